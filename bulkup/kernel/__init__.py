"""What bulkup asks of the kernel: kernel TLS and io_uring, each with a probe that explains itself."""
