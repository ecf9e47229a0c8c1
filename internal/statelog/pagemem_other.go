//go:build !linux

package statelog

// pageMem owns one page; elsewhere than on Linux (pagemem_linux.go) pages are on the heap.
type pageMem struct{ b []byte }

func newPageMem(n int) ([]byte, *pageMem) {
	b := make([]byte, n)
	return b, &pageMem{b: b}
}

// MappedBytes is 0: no page is mapped outside the heap here.
func MappedBytes() int64 { return 0 }
