#ifndef KILN_CHDF5_SHIM_H
#define KILN_CHDF5_SHIM_H
#include <hdf5.h>

// HDF5's type, property-list and flag identifiers are macros that call functions; Swift cannot import
// them, so these inline functions hand them over.
static inline hid_t kiln_H5T_C_S1(void) { return H5T_C_S1; }
static inline hid_t kiln_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t kiln_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t kiln_H5T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t kiln_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t kiln_H5P_FILE_ACCESS(void) { return H5P_FILE_ACCESS; }
static inline hid_t kiln_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t kiln_H5S_ALL(void) { return H5S_ALL; }
static inline unsigned kiln_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline size_t kiln_H5T_VARIABLE(void) { return H5T_VARIABLE; }

/// The kind of a link as `kiln_H5_link_kind` numbers it: 0 hard, 1 soft, 2 external, 3 any other.
static inline int kiln_H5_kind_of_link(H5L_type_t type) {
    switch (type) {
    case H5L_TYPE_HARD: return 0;
    case H5L_TYPE_SOFT: return 1;
    case H5L_TYPE_EXTERNAL: return 2;
    default: return 3;
    }
}

/// The kind of the link `name` in the group `loc` (without following it): 0 hard, 1 soft, 2 external,
/// 3 any other, -1 if it cannot be read. H5Lget_info is a versioned macro, so it is called from C.
static inline int kiln_H5_link_kind(hid_t loc, const char *name) {
    H5L_info_t info;
    if (H5Lget_info(loc, name, &info, H5P_DEFAULT) < 0) return -1;
    return kiln_H5_kind_of_link(info.type);
}

/// Writes 16 bytes that identify an object in its file (two hard links to one object give the same bytes)
/// from its address (HDF5 1.10) or token (1.12 and later) in `source`.
static inline void kiln_H5_identity_bytes(const void *source, size_t size, unsigned char identity[16]) {
    const unsigned char *bytes = (const unsigned char *)source;
    for (size_t i = 0; i < 16; i++) identity[i] = i < size ? bytes[i] : 0;
}

/// The type of the object at `name` (0 group, 1 dataset, 2 named datatype, 3 any other), its number of
/// attributes and its 16 identity bytes (`kiln_H5_identity_bytes`); returns -1 if its object header cannot be
/// read. H5Oget_info is a versioned macro.
static inline int kiln_H5_object_info(
    hid_t loc, const char *name, int *type, unsigned long long *attributes, unsigned char identity[16]) {
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t info;
    if (H5Oget_info_by_name3(loc, name, &info, H5O_INFO_BASIC | H5O_INFO_NUM_ATTRS, H5P_DEFAULT) < 0) return -1;
    kiln_H5_identity_bytes(&info.token, sizeof(info.token), identity);
#else
    H5O_info_t info;
    if (H5Oget_info_by_name2(loc, name, &info, H5O_INFO_BASIC | H5O_INFO_NUM_ATTRS, H5P_DEFAULT) < 0) return -1;
    kiln_H5_identity_bytes(&info.addr, sizeof(info.addr), identity);
#endif
    switch (info.type) {
    case H5O_TYPE_GROUP: *type = 0; break;
    case H5O_TYPE_DATASET: *type = 1; break;
    case H5O_TYPE_NAMED_DATATYPE: *type = 2; break;
    default: *type = 3; break;
    }
    *attributes = (unsigned long long)info.num_attrs;
    return 0;
}

/// Called with each link name of a group, the link's kind (as `kiln_H5_link_kind` numbers it) and, for a
/// hard link, the identity of the object it leads to (its 16 identity bytes; zeros for other
/// links); a nonzero return stops the listing.
typedef int (*kiln_link_visitor)(const char *name, int kind, const unsigned char *identity, void *context);

struct kiln_link_listing { kiln_link_visitor visitor; void *context; };

static herr_t kiln_H5_visit_link(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    (void)group;
    struct kiln_link_listing *listing = (struct kiln_link_listing *)data;
    unsigned char identity[16] = {0};
    if (!info) return listing->visitor(name, -1, identity, listing->context);
    if (info->type == H5L_TYPE_HARD) {
#if H5_VERSION_GE(1, 12, 0)
        kiln_H5_identity_bytes(&info->u.token, sizeof(info->u.token), identity);
#else
        kiln_H5_identity_bytes(&info->u.address, sizeof(info->u.address), identity);
#endif
    }
    return listing->visitor(name, kiln_H5_kind_of_link(info->type), identity, listing->context);
}

/// Calls `visitor` with the name and kind of every link in `group`, in name order, in one pass over the
/// group (H5Lget_name_by_idx rebuilds the whole link table of a large group at every call, and the kind
/// comes with the listing, without a lookup per link). H5Literate is a versioned macro. Returns -1 if the
/// group cannot be read.
static inline int kiln_H5_list_links(hid_t group, kiln_link_visitor visitor, void *context) {
    struct kiln_link_listing listing = { visitor, context };
    hsize_t index = 0;
    return H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &index, kiln_H5_visit_link, &listing) < 0 ? -1 : 0;
}

/// Opens the object whose 16 identity bytes a hard link's listing gave,
/// without looking its name up again: H5Oopen_by_addr in HDF5 1.10, H5Oopen_by_token from 1.12.
static inline hid_t kiln_H5_open_by_identity(hid_t file, const unsigned char identity[16]) {
#if H5_VERSION_GE(1, 12, 0)
    H5O_token_t token;
    unsigned char *bytes = (unsigned char *)&token;
    for (size_t i = 0; i < sizeof(token); i++) bytes[i] = i < 16 ? identity[i] : 0;
    return H5Oopen_by_token(file, token);
#else
    haddr_t address;
    unsigned char *bytes = (unsigned char *)&address;
    for (size_t i = 0; i < sizeof(address); i++) bytes[i] = i < 16 ? identity[i] : 0;
    return H5Oopen_by_addr(file, address);
#endif
}

/// Called with each attribute name of an object; a nonzero return stops the listing.
typedef int (*kiln_attribute_visitor)(const char *name, void *context);

struct kiln_attribute_listing { kiln_attribute_visitor visitor; void *context; };

static herr_t kiln_H5_visit_attribute(hid_t object, const char *name, const H5A_info_t *info, void *data) {
    (void)object; (void)info;
    struct kiln_attribute_listing *listing = (struct kiln_attribute_listing *)data;
    return listing->visitor(name, listing->context);
}

/// Calls `visitor` with the name of every attribute of the open object `object`, in name order, in one
/// pass (H5Aget_name_by_idx builds the object's attribute table again at every call). Returns -1 if the
/// attributes cannot be read.
static inline int kiln_H5_list_attributes(hid_t object, kiln_attribute_visitor visitor, void *context) {
    struct kiln_attribute_listing listing = { visitor, context };
    hsize_t index = 0;
    return H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, &index, kiln_H5_visit_attribute, &listing) < 0 ? -1 : 0;
}

/// Stops HDF5 from printing its error stack to stderr; Kiln reports errors itself.
static inline void kiln_H5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
#endif
