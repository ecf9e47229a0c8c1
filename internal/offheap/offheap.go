// Package offheap gives memory outside the Go heap, where the platform allows (Linux:
// anonymous private mappings), for large pointer-free buffers: on the heap their bytes count
// in the heap the garbage collector paces itself by (GOGC lets it grow to twice what is
// live), so a buffer of n bytes costs about 2n of RSS; mapped, it costs n. Elsewhere it is the
// heap, and Free and Release do nothing.
package offheap
