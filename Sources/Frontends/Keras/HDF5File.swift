import CHDF5
import Foundation
import KilnIR

/// libhdf5's serial build is not thread-safe: every call goes through this lock. A child process made by
/// `HDF5Snapshot` replaces it before its first call (it was held across the fork, by a thread the child
/// does not have).
nonisolated(unsafe) var hdf5Lock = NSLock()

/// A read-only HDF5 file, opened from disk or from bytes in memory, with just what the Keras reader needs:
/// string attributes, float datasets and group listings, asked for by path (each link on the path checked
/// to be hard) or of an object held open (`HDF5File+Objects.swift`, what `HDF5Snapshot`'s walk uses).
final class HDF5File {
    /// The open file; `HDF5File+Objects.swift` reads through it too.
    let file: hid_t
    /// Where the file came from, for error messages.
    let origin: String
    /// Keeps the bytes of an in-memory file alive while HDF5 reads them.
    private let image: Data?
    /// Paths `hardLinked` found made of hard links only: the file is read-only, so they stay so, and questions
    /// about several objects of one group do not look each prefix up again.
    private var hardLinkedPaths: Set<String> = []

    private init(file: hid_t, origin: String, image: Data?) {
        self.file = file
        self.origin = origin
        self.image = image
    }

    static func open(path: String) throws(HDF5Error) -> HDF5File {
        try locked { () throws(HDF5Error) -> HDF5File in
            kiln_H5_silence_errors()
            let file = H5Fopen(path, kiln_H5F_ACC_RDONLY(), kiln_H5P_DEFAULT())
            guard file >= 0 else { throw HDF5Error(origin: path, "HDF5 could not open the file (it is damaged or truncated)") }
            return HDF5File(file: file, origin: path, image: nil)
        }
    }

    /// Opens an HDF5 file image held in memory, without writing a temporary file.
    static func open(image: Data, origin: String) throws(HDF5Error) -> HDF5File {
        try locked { () throws(HDF5Error) -> HDF5File in
            kiln_H5_silence_errors()
            let access = H5Pcreate(kiln_H5P_FILE_ACCESS())
            guard access >= 0 else { throw HDF5Error(origin: origin, "HDF5 could not create a file-access list") }
            defer { H5Pclose(access) }
            guard H5Pset_fapl_core(access, 1 << 16, false) >= 0 else { throw HDF5Error(origin: origin, "HDF5 has no in-memory driver") }
            let status = image.withUnsafeBytes { H5Pset_file_image(access, UnsafeMutableRawPointer(mutating: $0.baseAddress), $0.count) }
            guard status >= 0 else { throw HDF5Error(origin: origin, "HDF5 could not take the file image") }
            let file = H5Fopen(origin, kiln_H5F_ACC_RDONLY(), access)
            guard file >= 0 else { throw HDF5Error(origin: origin, "HDF5 could not open the file (it is damaged or truncated)") }
            return HDF5File(file: file, origin: origin, image: image)
        }
    }

    deinit {
        Self.locked { () throws(HDF5Error) in _ = H5Fclose(file) }
    }

    static func locked<T>(_ body: () throws(HDF5Error) -> T) throws(HDF5Error) -> T {
        hdf5Lock.lock()
        defer { hdf5Lock.unlock() }
        return try body()
    }

    static func locked(_ body: () throws(HDF5Error) -> Void) {
        hdf5Lock.lock()
        defer { hdf5Lock.unlock() }
        try? body()
    }

    /// The most elements read from one dataset or attribute (8 GiB of float32), far above any Keras layer.
    static let maxElements = 1 << 31

    // MARK: - Objects

    /// Whether every component of `path` exists; throws if one is a soft, external or user-defined link.
    /// Keras writes only hard links; an external link would read another file, so none is followed. Each
    /// component is checked before the next is looked up through it. Call with the lock held.
    private func hardLinked(_ path: String) throws(HDF5Error) -> Bool {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if hardLinkedPaths.contains(prefix) { continue }
            guard H5Lexists(file, prefix, kiln_H5P_DEFAULT()) > 0 else { return false }
            let kind = kiln_H5_link_kind(file, prefix)
            guard kind == 0 else { throw refusal(ofLink: prefix, kind: kind) }
            hardLinkedPaths.insert(prefix)
        }
        return true
    }

    /// Why the link at `path` is not followed: `kind` numbers it as `kiln_H5_link_kind` does (1 soft,
    /// 2 external, 3 user-defined; -1 unreadable).
    func refusal(ofLink path: String, kind: Int32) -> HDF5Error {
        switch kind {
        case 1: HDF5Error(origin: origin, "\(path) is a soft link; Kiln follows only the hard links Keras writes", refusal: true)
        case 2:
            HDF5Error(
                origin: origin, "\(path) is an external link to another file; Kiln never reads outside the file it is given",
                refusal: true)
        case 3: HDF5Error(origin: origin, "\(path) is a user-defined link; Kiln follows only the hard links Keras writes", refusal: true)
        default: HDF5Error(origin: origin, "cannot read the link \(path)")
        }
    }

    // MARK: - Attributes

    /// A string attribute (fixed or variable length, scalar or the first of an array); nil if absent.
    func stringAttribute(_ name: String, of path: String = "/") throws(HDF5Error) -> String? {
        try stringsAttribute(name, of: path)?.first
    }

    /// A string-array attribute such as `weight_names`; nil if absent, empty if it holds no strings.
    func stringsAttribute(_ name: String, of path: String = "/") throws(HDF5Error) -> [String]? {
        try Self.locked { () throws(HDF5Error) -> [String]? in
            guard try hardLinked(path) else { return nil }
            return try readStringsAttribute(name, of: file, at: path, path: path)
        }
    }

    /// `stringsAttribute(_:of:)` of the object `object` names from `location` (a path from the file, or
    /// `.` from an open object), which is at `path` in the file. Call with the lock held.
    func readStringsAttribute(_ name: String, of location: hid_t, at object: String, path: String) throws(HDF5Error) -> [String]? {
        let what = "attribute \(name) of \(path)"
        guard H5Aexists_by_name(location, object, name, kiln_H5P_DEFAULT()) > 0 else { return nil }
        let attribute = H5Aopen_by_name(location, object, name, kiln_H5P_DEFAULT(), kiln_H5P_DEFAULT())
        guard attribute >= 0 else { throw HDF5Error(origin: origin, "cannot open \(what)") }
        defer { H5Aclose(attribute) }
        let type = H5Aget_type(attribute)
        guard type >= 0 else { throw HDF5Error(origin: origin, "cannot read the type of \(what)") }
        defer { H5Tclose(type) }
        let space = H5Aget_space(attribute)
        guard space >= 0 else { throw HDF5Error(origin: origin, "cannot read the shape of \(what)") }
        defer { H5Sclose(space) }
        // h5py writes an empty list as an empty float array.
        guard H5Tget_class(type) == H5T_STRING else { return H5Sget_simple_extent_npoints(space) == 0 ? [] : nil }
        // An attribute lives in the object header: its fixed-length strings take exactly their storage.
        let stored = Int(clamping: H5Aget_storage_size(attribute))
        return try readStrings(what, type: type, space: space, storedBytes: stored) { memory, buffer in
            H5Aread(attribute, memory, buffer)
        }
    }

    // MARK: - Datasets

    /// The shape and the elements, converted to float32 by HDF5, of the open dataset `dataset`, at `path` in
    /// the file: refused before anything is allocated if its shape or storage does not fit (`checkStorage`,
    /// `MemoryLimit`). Call with the lock held.
    func readFloats(of dataset: hid_t, _ path: String) throws(HDF5Error) -> (shape: [Int], values: [Float]) {
        let space = H5Dget_space(dataset)
        guard space >= 0 else { throw HDF5Error(origin: origin, "cannot read the shape of \(path)") }
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard rank >= 0 else { throw HDF5Error(origin: origin, "cannot read the shape of \(path)") }
        var dims = [hsize_t](repeating: 0, count: rank)
        guard H5Sget_simple_extent_dims(space, &dims, nil) >= 0 else {
            throw HDF5Error(origin: origin, "cannot read the shape of \(path)")
        }
        // A damaged file can claim any shape: refuse sizes no weight array has before allocating.
        var count = 1
        for dim in dims {
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(clamping: dim))
            guard !overflow, product <= Self.maxElements else {
                throw HDF5Error(origin: origin, "dataset \(path) claims the shape \(dims) (the file is damaged)")
            }
            count = product
        }
        let shape = dims.map { Int($0) }
        let type = H5Dget_type(dataset)
        guard type >= 0 else { throw HDF5Error(origin: origin, "cannot read the type of \(path)") }
        let storedElementBytes = H5Tget_size(type)
        H5Tclose(type)
        try checkStorage(of: dataset, path, elements: count, elementBytes: storedElementBytes)
        guard MemoryLimit.allows(count * 4) else {
            throw HDF5Error(origin: origin, "dataset \(path) of shape \(shape) \(MemoryLimit.exceeded(by: count * 4))")
        }
        var values = [Float](repeating: 0, count: count)
        let status = values.withUnsafeMutableBytes {
            H5Dread(dataset, kiln_H5T_NATIVE_FLOAT(), kiln_H5S_ALL(), kiln_H5S_ALL(), kiln_H5P_DEFAULT(), $0.baseAddress)
        }
        guard status >= 0 else {
            throw HDF5Error(origin: origin, "cannot read dataset \(path) as float32 (the file may be truncated)")
        }
        return (shape, values)
    }

    /// The strings of a string dataset, in row-major order (one for a scalar dataset).
    func stringsDataset(_ path: String) throws(HDF5Error) -> [String] {
        try Self.locked { () throws(HDF5Error) -> [String] in
            let what = "dataset \(path)"
            guard try hardLinked(path) else { throw HDF5Error(origin: origin, "there is no dataset \(path)") }
            let dataset = H5Dopen2(file, path, kiln_H5P_DEFAULT())
            guard dataset >= 0 else { throw HDF5Error(origin: origin, "there is no dataset \(path)") }
            defer { H5Dclose(dataset) }
            let type = H5Dget_type(dataset)
            guard type >= 0 else { throw HDF5Error(origin: origin, "cannot read the type of \(what)") }
            defer { H5Tclose(type) }
            guard H5Tget_class(type) == H5T_STRING else { throw HDF5Error(origin: origin, "\(what) does not hold strings") }
            let space = H5Dget_space(dataset)
            guard space >= 0 else { throw HDF5Error(origin: origin, "cannot read the shape of \(what)") }
            defer { H5Sclose(space) }
            try checkStorage(of: dataset, path, elements: 0, elementBytes: 0)
            return try readStrings(what, type: type, space: space, storedBytes: nil) { memory, buffer in
                H5Dread(dataset, memory, kiln_H5S_ALL(), kiln_H5S_ALL(), kiln_H5P_DEFAULT(), buffer)
            }
        }
    }

    /// Refuses a dataset whose data live outside this file (external storage, a virtual dataset), and one
    /// whose unfiltered storage is smaller than its declared `elements` of `elementBytes` (HDF5 would make
    /// up the rest from the fill value: a few bytes of file could then claim gigabytes).
    private func checkStorage(of dataset: hid_t, _ path: String, elements: Int, elementBytes: Int) throws(HDF5Error) {
        let properties = H5Dget_create_plist(dataset)
        guard properties >= 0 else { throw HDF5Error(origin: origin, "cannot read how dataset \(path) is stored") }
        defer { H5Pclose(properties) }
        let external = H5Pget_external_count(properties)
        guard external >= 0 else { throw HDF5Error(origin: origin, "cannot read how dataset \(path) is stored") }
        guard external == 0 else {
            throw HDF5Error(
                origin: origin,
                "dataset \(path) keeps its data in another file (HDF5 external storage); Kiln never reads outside the file it is given",
                refusal: true)
        }
        guard H5Pget_layout(properties) != H5D_VIRTUAL else {
            throw HDF5Error(
                origin: origin,
                "dataset \(path) is a virtual dataset that maps data from other files; Kiln never reads outside the file it is given",
                refusal: true)
        }
        guard H5Pget_nfilters(properties) == 0 else { return }
        let (declared, overflow) = elements.multipliedReportingOverflow(by: elementBytes)
        let stored = Int(clamping: H5Dget_storage_size(dataset))
        guard !overflow, stored >= declared else {
            throw HDF5Error(
                origin: origin,
                "dataset \(path) declares \(elements) elements of \(elementBytes) bytes, but the file stores \(stored) bytes of them")
        }
    }

    // MARK: - Strings

    /// The most bytes of fixed-length strings read from one attribute or dataset (a model configuration is
    /// a few megabytes at most).
    private static let maxStringBytes = 1 << 28

    /// Reads the strings of an attribute or dataset whose `type` is a string type, exactly as stored:
    /// variable-length strings whole, fixed-length ones without their padding (trailing nulls when
    /// null-padded, everything from the first null when null-terminated, trailing spaces when space-padded),
    /// as UTF-8 (ASCII is a subset). `read` reads every element into a buffer of the given memory type.
    /// `storedBytes` is the size the file gives the data, when that bounds fixed-length strings exactly.
    private func readStrings(
        _ what: String, type: hid_t, space: hid_t, storedBytes: Int?, read: (hid_t, UnsafeMutableRawPointer) -> herr_t
    ) throws(HDF5Error) -> [String] {
        let points = H5Sget_simple_extent_npoints(space)
        guard points >= 0, points <= Self.maxElements else {
            throw HDF5Error(origin: origin, "\(what) claims \(points) elements (the file is damaged)")
        }
        let count = Int(points)
        guard count > 0 else { return [] }
        if H5Tis_variable_str(type) > 0 {
            let memory = H5Tcopy(kiln_H5T_C_S1())
            guard memory >= 0 else { throw HDF5Error(origin: origin, "HDF5 could not make a string type") }
            defer { H5Tclose(memory) }
            guard H5Tset_size(memory, kiln_H5T_VARIABLE()) >= 0, H5Tset_cset(memory, H5Tget_cset(type)) >= 0 else {
                throw HDF5Error(origin: origin, "HDF5 could not make a string type for \(what)")
            }
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            let status = pointers.withUnsafeMutableBytes { read(memory, $0.baseAddress!) }
            guard status >= 0 else { throw HDF5Error(origin: origin, "cannot read \(what)") }
            defer { H5Dvlen_reclaim(memory, space, kiln_H5P_DEFAULT(), &pointers) }
            return pointers.map { pointer in
                guard let pointer else { return "" }
                return String(decoding: UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)), as: UTF8.self)
            }
        }
        // Fixed length: read the stored bytes as they are (a copy of the file's type keeps its size, padding
        // and character set, so HDF5 converts nothing), then take the padding off here.
        let size = H5Tget_size(type)
        let (total, overflow) = count.multipliedReportingOverflow(by: size)
        guard size > 0, !overflow, total <= Self.maxStringBytes, storedBytes.map({ total <= $0 }) ?? true else {
            throw HDF5Error(origin: origin, "\(what) claims \(count) strings of \(size) bytes (the file is damaged)")
        }
        let memory = H5Tcopy(type)
        guard memory >= 0 else { throw HDF5Error(origin: origin, "HDF5 could not copy the string type of \(what)") }
        defer { H5Tclose(memory) }
        var bytes = [UInt8](repeating: 0, count: total)
        let status = bytes.withUnsafeMutableBytes { read(memory, $0.baseAddress!) }
        guard status >= 0 else { throw HDF5Error(origin: origin, "cannot read \(what)") }
        let padding = H5Tget_strpad(type)
        return (0..<count).map { index in
            var element = bytes[index * size..<(index + 1) * size]
            switch padding {
            case H5T_STR_NULLTERM:
                element = element.prefix { $0 != 0 }
            case H5T_STR_SPACEPAD:
                while element.last == 0x20 { element = element.dropLast() }
            default:
                // Null-padded (HDF5's default, and h5py's and Keras's): the padding is trailing nulls only.
                while element.last == 0 { element = element.dropLast() }
            }
            return String(decoding: element, as: UTF8.self)
        }
    }
}

/// What an HDF5 object is.
enum HDF5ObjectKind { case group, dataset, other }

/// A failure inside libhdf5, or a refusal to follow something out of the file.
struct HDF5Error: Error {
    var origin: String
    var message: String
    /// The file is readable but asks to read outside itself (a link, external storage): not damage.
    var refusal: Bool

    init(origin: String, _ message: String, refusal: Bool = false) {
        self.origin = origin
        self.message = message
        self.refusal = refusal
    }
}

extension KerasImportError {
    /// A refusal as it is (`file: what was refused`), any other HDF5 failure as `otherwise` makes it.
    static func hdf5(_ error: HDF5Error, file: String, otherwise: (String) -> KerasImportError) -> KerasImportError {
        error.refusal ? .unreadable(file: file, reason: error.message) : otherwise(error.message)
    }
}
