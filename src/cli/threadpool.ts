// fs calls and fsyncs run on libuv's thread pool, 4 threads unless told otherwise; a registry
// keeps many in flight. This must run before the first fs call, hence its own first import.
process.env.UV_THREADPOOL_SIZE ??= "32";
