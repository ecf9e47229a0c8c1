//go:build linux

package offheap

import "syscall"

// Alloc returns n zeroed bytes, mapped outside the heap (mapped true), or on the heap when no
// mapping can be had.
func Alloc(n int) (b []byte, mapped bool) {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n), false
	}
	return b, true
}

// Free unmaps b, which Alloc mapped; nothing may use it after.
func Free(b []byte) error { return syscall.Munmap(b[:cap(b)]) }

// Release gives the pages of b, which Alloc mapped, back to the system; the mapping stays,
// and reads as zeros until written again.
func Release(b []byte) { _ = syscall.Madvise(b[:cap(b)], syscall.MADV_DONTNEED) }
