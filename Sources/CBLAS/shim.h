// OpenBLAS's CBLAS interface (Debian: libopenblas-dev).
#include <cblas.h>
// Thread control is an OpenBLAS extension; declared here so Swift can pin the thread count.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
