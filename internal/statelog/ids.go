package statelog

import (
	"encoding/binary"
	"encoding/hex"
)

// An id (a task's, a step's, a correlation id) is kept without a pointer: Tasker's ids are
// UUIDs, which fit in 16 bytes; any other string goes into the log's byte arena.
const (
	idNone  uint8 = iota
	idUUID        // a canonical UUID (36 lower-case characters) as its 16 bytes
	idArena       // another string: offset and length in the arena, in b[0:8]
)

type idRef struct {
	b    [16]byte
	form uint8
}

// parseUUID reads a canonical UUID: 36 characters, dashes at 8, 13, 18 and 23, lower-case
// hex digits. Any other spelling (upper case included) is not canonical, so that the id
// keeps its exact string.
func parseUUID(s string) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	for j, i := range uuidDigits {
		hi, lo := hexVal[s[i]], hexVal[s[i+1]]
		if hi > 15 || lo > 15 {
			return u, false
		}
		u[j] = hi<<4 | lo
	}
	return u, true
}

// uuidDigits are the positions of the 16 digit pairs of a canonical UUID.
var uuidDigits = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// hexVal maps a lower-case hex digit to its value, anything else to 0xff.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
	}
	return t
}()

func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}

func (r *idRef) arenaRef() (off, n uint32) {
	return binary.LittleEndian.Uint32(r.b[0:4]), binary.LittleEndian.Uint32(r.b[4:8])
}

func (r *idRef) setArena(off, n uint32) {
	binary.LittleEndian.PutUint32(r.b[0:4], off)
	binary.LittleEndian.PutUint32(r.b[4:8], n)
	r.form = idArena
}

// makeID keeps s: as a UUID, or copied into the arena.
func (a *arena) makeID(s string) idRef {
	u, ok := parseUUID(s)
	return a.makeParsedID(s, u, ok)
}

// makeKeyID stores an entity's id, parsed already.
func (a *arena) makeKeyID(k *entityKey) idRef { return a.makeParsedID(k.id, k.uuid, k.isUUID) }

func (a *arena) makeParsedID(s string, u [16]byte, isUUID bool) idRef {
	if s == "" {
		return idRef{}
	}
	if isUUID {
		return idRef{b: u, form: idUUID}
	}
	var r idRef
	r.setArena(a.put(s))
	return r
}

// freeID gives an id's arena bytes back.
func (a *arena) freeID(r *idRef) {
	if r.form == idArena {
		_, n := r.arenaRef()
		a.free(n)
	}
	*r = idRef{}
}

// idEquals reports whether r is the id s, parsed as u (ok: s is a canonical UUID).
func (a *arena) idEquals(r *idRef, s string, u [16]byte, ok bool) bool {
	switch r.form {
	case idUUID:
		return ok && r.b == u
	case idArena:
		off, n := r.arenaRef()
		return !ok && int(n) == len(s) && string(a.get(off, n)) == s
	}
	return s == ""
}

// idString returns the id as a string (it allocates: for logs, tests and snapshots).
func (a *arena) idString(r *idRef) string {
	switch r.form {
	case idUUID:
		return formatUUID(r.b)
	case idArena:
		return string(a.get(r.arenaRef()))
	}
	return ""
}

// CorrelationID is a task's correlation id (a request id), kept without a pointer until it
// is written out.
type CorrelationID struct {
	uuid [16]byte
	s    string // a correlation id that is not a canonical UUID
	set  bool
}

// String returns the id ("" when unknown). It allocates for a UUID.
func (c CorrelationID) String() string {
	switch {
	case !c.set:
		return ""
	case c.s != "":
		return c.s
	}
	return formatUUID(c.uuid)
}

// Parts returns what a CorrelationID holds, for writing it in a snapshot.
func (c CorrelationID) Parts() (uuid [16]byte, s string, set bool) { return c.uuid, c.s, c.set }

// MakeCorrelationID rebuilds a CorrelationID from its parts (from a snapshot).
func MakeCorrelationID(uuid [16]byte, s string, set bool) CorrelationID {
	return CorrelationID{uuid: uuid, s: s, set: set}
}

// IsZero reports whether no correlation id is known.
func (c CorrelationID) IsZero() bool { return !c.set }
