// Package snapshot is the format the components' state is written in (docs/telemetry.md §5,
// Restarts): a header (magic, format version, a fingerprint of the layout and of the
// configuration the state depends on, when it was taken) and tagged sections, each with its
// length and a CRC-32C of its bytes. A reader refuses, without panicking, a snapshot that is
// truncated, corrupt, of an unknown version or of another layout or configuration, and says
// which; the component then starts empty.
package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// Version is the format version written; a reader accepts only it.
const Version = 1

const magic = "TSKSNAP\x00"

// headerSize is magic, version (u16), fingerprint (u64), taken (i64), flags (u16), and a
// CRC-32C of them.
const headerSize = len(magic) + 2 + 8 + 8 + 2 + 4

// Why a snapshot is refused.
var (
	ErrTruncated      = errors.New("truncated")
	ErrCorrupt        = errors.New("corrupt")
	ErrUnknownVersion = errors.New("unknown_version")
	ErrIncompatible   = errors.New("incompatible")
)

// Reason returns the reason word of an error from this package ("corrupt" when another).
func Reason(err error) string {
	for _, e := range []error{ErrTruncated, ErrCorrupt, ErrUnknownVersion, ErrIncompatible} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return ErrCorrupt.Error()
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Flags of a snapshot.
const (
	// Clean: written at a graceful shutdown (else a checkpoint).
	Clean uint16 = 1 << iota
)

// Writer builds a snapshot in memory. buf is reused when the caller hands it back.
type Writer struct {
	buf []byte
	sec int // start of the open section's length field, -1 when none
}

// NewWriter starts a snapshot in buf (which it may grow).
func NewWriter(buf []byte, fingerprint uint64, taken int64, flags uint16) *Writer {
	w := &Writer{buf: buf[:0], sec: -1}
	w.buf = append(w.buf, magic...)
	w.buf = binary.LittleEndian.AppendUint16(w.buf, Version)
	w.buf = binary.LittleEndian.AppendUint64(w.buf, fingerprint)
	w.buf = binary.LittleEndian.AppendUint64(w.buf, uint64(taken))
	w.buf = binary.LittleEndian.AppendUint16(w.buf, flags)
	w.buf = binary.LittleEndian.AppendUint32(w.buf, crc32.Checksum(w.buf, crcTable))
	return w
}

// Section writes one section: tag, length, body (what fill appends), CRC.
func (w *Writer) Section(tag uint16, fill func(e *Encoder)) {
	w.buf = binary.LittleEndian.AppendUint16(w.buf, tag)
	at := len(w.buf)
	w.buf = binary.LittleEndian.AppendUint64(w.buf, 0)
	e := Encoder{b: w.buf}
	fill(&e)
	w.buf = e.b
	body := w.buf[at+8:]
	binary.LittleEndian.PutUint64(w.buf[at:], uint64(len(body)))
	w.buf = binary.LittleEndian.AppendUint32(w.buf, crc32.Checksum(body, crcTable))
}

// Bytes returns the snapshot.
func (w *Writer) Bytes() []byte { return w.buf }

// Header is what a snapshot says about itself.
type Header struct {
	Fingerprint uint64
	Taken       int64 // the collector's clock when it was written, unix ns
	Flags       uint16
}

// Reader reads a snapshot's sections in the order they were written.
type Reader struct {
	Header
	rest []byte
}

// NewReader checks a snapshot's header against the fingerprint the reader's layout and
// configuration give.
func NewReader(data []byte, fingerprint uint64) (*Reader, error) {
	if len(data) < headerSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than a header", ErrTruncated, len(data))
	}
	if string(data[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: not a tasker_state snapshot", ErrCorrupt)
	}
	p := data[len(magic):]
	if v := binary.LittleEndian.Uint16(p); v != Version {
		return nil, fmt.Errorf("%w: format version %d, this collector reads %d", ErrUnknownVersion, v, Version)
	}
	if crc32.Checksum(data[:headerSize-4], crcTable) != binary.LittleEndian.Uint32(data[headerSize-4:]) {
		return nil, fmt.Errorf("%w: the header fails its checksum", ErrCorrupt)
	}
	r := &Reader{Header: Header{
		Fingerprint: binary.LittleEndian.Uint64(p[2:]),
		Taken:       int64(binary.LittleEndian.Uint64(p[10:])),
		Flags:       binary.LittleEndian.Uint16(p[18:]),
	}, rest: data[headerSize:]}
	if r.Fingerprint != fingerprint {
		return nil, fmt.Errorf("%w: written by another build or configuration (fingerprint %x, this one %x)", ErrIncompatible, r.Fingerprint, fingerprint)
	}
	return r, nil
}

// Section returns the next section, which must have the given tag, as a Decoder.
func (r *Reader) Section(tag uint16) (*Decoder, error) {
	if len(r.rest) < 10 {
		return nil, fmt.Errorf("%w: section %d missing", ErrTruncated, tag)
	}
	if got := binary.LittleEndian.Uint16(r.rest); got != tag {
		return nil, fmt.Errorf("%w: section %d where %d belongs", ErrCorrupt, got, tag)
	}
	n := binary.LittleEndian.Uint64(r.rest[2:])
	if n > uint64(len(r.rest)-10) || uint64(len(r.rest)-10)-n < 4 {
		return nil, fmt.Errorf("%w: section %d of %d bytes, %d left", ErrTruncated, tag, n, len(r.rest)-10)
	}
	body := r.rest[10 : 10+n]
	sum := binary.LittleEndian.Uint32(r.rest[10+n:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil, fmt.Errorf("%w: section %d fails its checksum", ErrCorrupt, tag)
	}
	r.rest = r.rest[14+n:]
	return &Decoder{b: body}, nil
}

// Done reports an error when bytes are left after the last section.
func (r *Reader) Done() error {
	if len(r.rest) != 0 {
		return fmt.Errorf("%w: %d bytes after the last section", ErrCorrupt, len(r.rest))
	}
	return nil
}

// Encoder appends values in little-endian order.
type Encoder struct{ b []byte }

func (e *Encoder) U8(v uint8)   { e.b = append(e.b, v) }
func (e *Encoder) U16(v uint16) { e.b = binary.LittleEndian.AppendUint16(e.b, v) }
func (e *Encoder) U32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *Encoder) U64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *Encoder) I64(v int64)  { e.U64(uint64(v)) }
func (e *Encoder) F64(v float64) {
	e.U64(math.Float64bits(v))
}
func (e *Encoder) Bool(v bool) {
	if v {
		e.U8(1)
	} else {
		e.U8(0)
	}
}

// Bytes writes a length and the bytes.
func (e *Encoder) Bytes(v []byte) {
	e.U64(uint64(len(v)))
	e.b = append(e.b, v...)
}

func (e *Encoder) String(v string) {
	e.U64(uint64(len(v)))
	e.b = append(e.b, v...)
}

// Raw writes bytes without a length (the reader knows it).
func (e *Encoder) Raw(v []byte) { e.b = append(e.b, v...) }

// Decoder reads what an Encoder wrote. Its first error sticks: every later read returns
// zero values, and Err reports it.
type Decoder struct {
	b   []byte
	err error
}

// Err returns the first error, or one for bytes left over.
func (d *Decoder) Err() error {
	if d.err == nil && len(d.b) != 0 {
		return fmt.Errorf("%w: %d bytes left in a section", ErrCorrupt, len(d.b))
	}
	return d.err
}

// Failed reports whether a read has failed so far (bytes left over are not a failure yet).
func (d *Decoder) Failed() bool { return d.err != nil }

// Fail records an error found by the caller (a value out of range).
func (d *Decoder) Fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
}

func (d *Decoder) take(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: %d bytes wanted, %d left in a section", ErrCorrupt, n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *Decoder) U8() uint8 {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *Decoder) U16() uint16 {
	if b := d.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (d *Decoder) U32() uint32 {
	if b := d.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *Decoder) U64() uint64 {
	if b := d.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *Decoder) I64() int64   { return int64(d.U64()) }
func (d *Decoder) F64() float64 { return math.Float64frombits(d.U64()) }
func (d *Decoder) Bool() bool   { return d.U8() != 0 }

// Len reads a count of items of at least minSize bytes each, refusing one the section
// cannot hold (so that a corrupt count never allocates more than the snapshot's size).
func (d *Decoder) Len(minSize int) int {
	n := d.U64()
	if d.err == nil && (minSize > 0 && n > uint64(len(d.b))/uint64(minSize) || n > math.MaxInt32) {
		d.Fail("a count of %d, more than the section holds", n)
		return 0
	}
	return int(n)
}

// Bytes reads a length and that many bytes (a view into the snapshot).
func (d *Decoder) Bytes() []byte { return d.take(d.U64()) }

func (d *Decoder) String() string { return string(d.Bytes()) }

// Raw reads n bytes (a view into the snapshot).
func (d *Decoder) Raw(n int) []byte { return d.take(uint64(n)) }

// FixChecksums recomputes the CRC of every section whose frame the bytes still hold (for
// fuzzing: so that changed bytes reach the sections' decoding). It returns data.
func FixChecksums(data []byte) []byte {
	if len(data) < headerSize {
		return data
	}
	binary.LittleEndian.PutUint32(data[headerSize-4:], crc32.Checksum(data[:headerSize-4], crcTable))
	rest := data[headerSize:]
	for len(rest) >= 14 {
		n := binary.LittleEndian.Uint64(rest[2:])
		if n > uint64(len(rest)-14) {
			break
		}
		body := rest[10 : 10+n]
		binary.LittleEndian.PutUint32(rest[10+n:], crc32.Checksum(body, crcTable))
		rest = rest[14+n:]
	}
	return data
}
