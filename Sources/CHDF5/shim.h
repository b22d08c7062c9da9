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

/// Stops HDF5 from printing its error stack to stderr; Kiln reports errors itself.
static inline void kiln_H5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
#endif
