import CHDF5
import KilnIR

/// An object of an `HDF5File` held open, so that what is read from it next (its header, attributes, links
/// or data) does not look its path up again from the root. `HDF5Snapshot`'s walk opens each object once,
/// by the identity its group's listing gave for a link the listing says is hard: a walk over N objects
/// makes no name lookups at all, where asking by path makes several per object, each through every group
/// on the path.
final class HDF5Object {
    let id: hid_t
    /// Its path in the file (`/`, `/a/b`), for messages.
    let path: String

    fileprivate init(id: hid_t, path: String) {
        self.id = id
        self.path = path
    }

    deinit {
        HDF5File.locked { () throws(HDF5Error) in _ = H5Oclose(id) }
    }
}

/// A link of a group, as its listing gives it.
struct HDF5Link {
    let name: String
    /// 0 hard, 1 soft, 2 external, 3 user-defined, -1 unreadable (as `kiln_H5_link_kind` numbers them).
    let kind: Int32
    /// For a hard link, the 16 identity bytes of the object it leads to (as `info(of:)` gives them).
    let identity: [UInt8]
}

extension HDF5File {
    /// The root group.
    func root() throws(HDF5Error) -> HDF5Object {
        try Self.locked { () throws(HDF5Error) -> HDF5Object in
            let id = H5Oopen(file, "/", kiln_H5P_DEFAULT())
            guard id >= 0 else { throw HDF5Error(origin: origin, "cannot read the object header of /") }
            return HDF5Object(id: id, path: "/")
        }
    }

    /// The object the hard link `link` of `group` leads to, opened by the identity the group's listing gave
    /// (the caller checked in the listing that the link is hard).
    func open(_ link: HDF5Link, in group: HDF5Object) throws(HDF5Error) -> HDF5Object {
        let path = group.path == "/" ? "/\(link.name)" : "\(group.path)/\(link.name)"
        return try Self.locked { () throws(HDF5Error) -> HDF5Object in
            let id = kiln_H5_open_by_identity(file, link.identity)
            guard id >= 0 else { throw HDF5Error(origin: origin, "cannot read the object header of \(path)") }
            return HDF5Object(id: id, path: path)
        }
    }

    /// What `object` is, its number of attributes and its 16 identity bytes, as `object(at:)` gives them.
    func info(of object: HDF5Object) throws(HDF5Error) -> (kind: HDF5ObjectKind, attributes: Int, identity: [UInt8]) {
        try Self.locked { () throws(HDF5Error) -> (kind: HDF5ObjectKind, attributes: Int, identity: [UInt8]) in
            var type: Int32 = 0
            var attributes: UInt64 = 0
            var identity = [UInt8](repeating: 0, count: 16)
            guard kiln_H5_object_info(object.id, ".", &type, &attributes, &identity) >= 0 else {
                throw HDF5Error(origin: origin, "cannot read the object header of \(object.path)")
            }
            let kind: HDF5ObjectKind = type == 0 ? .group : type == 1 ? .dataset : .other
            return (kind, Int(clamping: attributes), identity)
        }
    }

    /// The links of `group` with their kinds, in name order, in one pass.
    func links(of group: HDF5Object) throws(HDF5Error) -> [HDF5Link] {
        try Self.locked { () throws(HDF5Error) -> [HDF5Link] in
            let links = LinkList()
            let status = withExtendedLifetime(links) {
                kiln_H5_list_links(
                    group.id,
                    { name, kind, identity, context in
                        guard let name, let identity, let context else { return -1 }
                        Unmanaged<LinkList>.fromOpaque(context).takeUnretainedValue().list.append(
                            HDF5Link(
                                name: String(cString: name), kind: kind, identity: Array(UnsafeBufferPointer(start: identity, count: 16))))
                        return 0
                    }, Unmanaged.passUnretained(links).toOpaque())
            }
            guard status >= 0 else { throw HDF5Error(origin: origin, "cannot list group \(group.path)") }
            return links.list
        }
    }

    /// The names of the attributes of `object`, in name order, in one pass.
    func attributeNames(of object: HDF5Object) throws(HDF5Error) -> [String] {
        try Self.locked { () throws(HDF5Error) -> [String] in
            let names = NameList()
            let status = withExtendedLifetime(names) {
                kiln_H5_list_attributes(
                    object.id,
                    { name, context in
                        guard let name, let context else { return -1 }
                        Unmanaged<NameList>.fromOpaque(context).takeUnretainedValue().list.append(String(cString: name))
                        return 0
                    }, Unmanaged.passUnretained(names).toOpaque())
            }
            guard status >= 0 else { throw HDF5Error(origin: origin, "cannot list the attributes of \(object.path)") }
            return names.list
        }
    }

    /// A string-array attribute of `object`, as `stringsAttribute(_:of:)` reads it.
    func stringsAttribute(_ name: String, of object: HDF5Object) throws(HDF5Error) -> [String]? {
        try Self.locked { () throws(HDF5Error) -> [String]? in
            try readStringsAttribute(name, of: object.id, at: ".", path: object.path)
        }
    }

    /// The dataset `object` as float32, as `floatDataset(_:)` reads it.
    func floatDataset(_ object: HDF5Object) throws(HDF5Error) -> (shape: [Int], values: [Float]) {
        try Self.locked { () throws(HDF5Error) -> (shape: [Int], values: [Float]) in try readFloats(of: object.id, object.path) }
    }
}

/// What a link listing collects, through a C callback.
private final class LinkList {
    var list: [HDF5Link] = []
}

/// What an attribute listing collects, through a C callback.
private final class NameList {
    var list: [String] = []
}
