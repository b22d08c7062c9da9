/// The walk `HDF5Snapshot` runs in its child process (or, for the fuzzer, in process): every object of the
/// file, sent as records through a `SnapshotWriter`.
extension HDF5Snapshot {
    /// Every record of the file `open` opens, then `end`.
    static func walk(
        open: () throws(HDF5Error) -> HDF5File, skip: (String, Set<String>) -> Bool, into writer: inout SnapshotWriter
    ) {
        do throws(HDF5Error) {
            let file = try open()
            walk(file, skip: skip, into: &writer)
        } catch {
            writer.record(.fatal, error)
        }
        writer.byte(RecordKind.end.rawValue)
    }

    /// Depth first from the root; a group reached a second time is sent as an alias and not walked again.
    /// Each object is opened once, by the identity its group's listing gave for a link the listing says is
    /// hard: a soft, external or user-defined link is sent as refused and never followed, and no name is
    /// looked up. A group stays open while its links wait on the stack.
    private static func walk(_ file: HDF5File, skip: (String, Set<String>) -> Bool, into writer: inout SnapshotWriter) {
        var seen: [[UInt8]: String] = [:]
        let root: HDF5Object
        do throws(HDF5Error) {
            root = try file.root()
        } catch {
            writer.record(.unreadable, path: "/", error)
            return
        }
        // An object to visit: the root, or the hard link `link` of the open group `parent`.
        var pending: [(path: String, link: HDF5Link?, parent: HDF5Object?)] = [("/", nil, nil)]
        while let next = pending.popLast() {
            let path = next.path
            if let link = next.link, let first = seen[link.identity] {
                writer.byte(RecordKind.alias.rawValue)
                writer.string(path)
                writer.string(first)
                continue
            }
            let object: HDF5Object
            let info: (kind: HDF5ObjectKind, attributes: Int, identity: [UInt8])
            do throws(HDF5Error) {
                if let link = next.link, let parent = next.parent { object = try file.open(link, in: parent) } else { object = root }
                info = try file.info(of: object)
            } catch {
                writer.record(.unreadable, path: path, error)
                continue
            }
            let identity = info.identity
            seen[identity] = path
            let names = walkAttributes(of: object, file, into: &writer)
            switch info.kind {
            case .group:
                let links = Result { () throws(HDF5Error) in try file.links(of: object) }
                writer.byte(RecordKind.group.rawValue)
                writer.string(path)
                writer.bytes(identity)
                writer.result(links.map { $0.map(\.name) }) { writer, names in writer.strings(names) }
                for link in (try? links.get()) ?? [] where path != "/" || !skip(link.name, names) {
                    // HDF5 writes no link name that is empty or holds a `/`: such a name is damage, and
                    // opening it would look up a path, not one link.
                    guard !link.name.isEmpty, !link.name.contains("/") else { continue }
                    let child = path == "/" ? "/\(link.name)" : "\(path)/\(link.name)"
                    guard link.kind == 0 else {
                        writer.record(.refusedLink, path: child, file.refusal(ofLink: child, kind: link.kind))
                        continue
                    }
                    pending.append((child, link, object))
                }
            case .dataset:
                let data = Result { () throws(HDF5Error) in try file.floatDataset(object) }
                writer.byte(RecordKind.dataset.rawValue)
                writer.string(path)
                writer.bytes(identity)
                writer.result(data) { writer, data in
                    writer.integers(data.shape)
                    writer.floats(data.values)
                }
            case .other:
                writer.byte(RecordKind.other.rawValue)
                writer.string(path)
                writer.bytes(identity)
            }
        }
    }

    /// Sends the attributes of `object`; returns their names.
    private static func walkAttributes(of object: HDF5Object, _ file: HDF5File, into writer: inout SnapshotWriter) -> Set<String> {
        writer.byte(RecordKind.attributes.rawValue)
        writer.string(object.path)
        let names = Result { () throws(HDF5Error) in try file.attributeNames(of: object) }
        writer.result(names) { writer, names in
            writer.integer(names.count)
            for name in names {
                writer.string(name)
                do throws(HDF5Error) {
                    if let strings = try file.stringsAttribute(name, of: object) {
                        writer.byte(0)
                        writer.strings(strings)
                    } else {
                        writer.byte(1)
                    }
                } catch {
                    writer.byte(2)
                    writer.error(error)
                }
            }
        }
        return Set((try? names.get()) ?? [])
    }
}
