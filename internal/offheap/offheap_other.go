//go:build !linux

package offheap

// Alloc returns n zeroed bytes on the heap: no mapping here (mapped false).
func Alloc(n int) (b []byte, mapped bool) { return make([]byte, n), false }

// Free does nothing: Alloc maps nothing here.
func Free([]byte) error { return nil }

// Release does nothing: Alloc maps nothing here.
func Release([]byte) {}
