/*
 * bench/cuda_probe.c — what the GPU itself allows, to read the cuda backend's numbers against: the
 * bandwidth a plain device-to-device copy kernel reaches (bytes read + written per second, best of
 * several repetitions over buffers far larger than the L2 cache), the device's name and its free memory.
 * Prints one JSON object. Needs a GPU; without one it says so and exits 1.
 *
 * usage: cuda_probe [--mib MIB]
 */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cuda/cuda_probe.h"

int main(int argc, char **argv)
{
    size_t mib = 2048;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mib") && i + 1 < argc) mib = (size_t)strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: cuda_probe [--mib MIB]\n");
            return 2;
        }
    }
    const char *why = weft_backend_unavailable("cuda");
    if (why) {
        fprintf(stderr, "cuda_probe: %s\n", why);
        return 1;
    }
    struct cudaDeviceProp prop;
    size_t free_b = 0, total_b = 0;
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess || cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        fprintf(stderr, "cuda_probe: cannot query device 0\n");
        return 1;
    }
    double gbps = 0;
    if (weft_cuda_copy_bandwidth(mib << 20, 10, &gbps) != WEFT_OK) {
        fprintf(stderr, "cuda_probe: %s\n", weft_last_error());
        return 1;
    }
    printf("{\"device\": \"%s\", \"sm_count\": %d, \"total_bytes\": %zu, \"free_bytes\": %zu, \"copy_mib\": %zu, "
           "\"copy_gbps\": %.1f}\n",
           prop.name, prop.multiProcessorCount, total_b, free_b, mib, gbps);
    return 0;
}
