/* The MPI library's own allreduce, timed as the OSU micro-benchmarks time it (osu_allreduce is
 * not packaged by Debian): blocking MPI_Allreduce of float buffers, a warm-up call, then the mean
 * fastest of `reps` calls, each after a barrier (the minimum: the cores are shared with others). The reference for the communicator's bandwidth
 * (docs/distributed.md): mpirun -np 2 --oversubscribe build/bench_mpi_allreduce_ref */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int sizes_mb[] = {1, 4, 16, 64};
  for (int k = 0; k < 4; ++k) {
    const int mb = sizes_mb[k];
    const int count = mb << 18; /* floats in mb MiB */
    float* buf = malloc((size_t)count * sizeof(float));
    for (int i = 0; i < count; ++i) buf[i] = 1.0f;
    MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    const int reps = mb >= 64 ? 5 : 20;
    double s = 1e30;
    for (int r = 0; r < reps; ++r) {
      MPI_Barrier(MPI_COMM_WORLD);
      const double start = MPI_Wtime();
      MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      const double t = MPI_Wtime() - start;
      if (t < s) s = t;
    }
    const double bytes = (double)count * sizeof(float);
    if (rank == 0) {
      printf("MPI_Allreduce %3d MiB: %8.3f ms, algbw %6.2f GB/s, busbw %6.2f GB/s\n", mb, s * 1e3,
             bytes / s / 1e9, bytes / s * 2.0 * (size - 1) / size / 1e9);
    }
    free(buf);
  }
  MPI_Finalize();
  return 0;
}
