package engine

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tasker-systems/otelcol-tasker/internal/transition"
)

// The two tables that the entity log's payloads refer to by number, so that the log holds
// no pointer: output resources, and the values of opted-in extra dimensions.

// maxResources bounds the output-resource identities; past it, a transition's facts belong
// to resource 0, which has no attributes (counted).
const maxResources = 4096

// resources gives each output resource (the configured key attributes of an input
// resource) a small id. Its values are emitted (service.name is Prometheus's job label), so
// they are bounded like names: longer than limits::max_name_bytes, a value is left out;
// with invalid UTF-8, it is repaired.
type resources struct {
	keys     []string // resource_key_attributes
	maxBytes int      // limits::max_name_bytes
	ids      map[string]uint32
	attrs    []pcommon.Map // by id; 0 is the resource of no attributes
	keyBuf   []byte
	refused  int64
}

// resourceFlaws says what bounding did to an input resource's key attributes.
type resourceFlaws uint8

const (
	resourceOversized resourceFlaws = 1 << iota // a value was left out
	resourceRepaired                            // a value was repaired
)

func newResources(keys []string, maxBytes int) resources {
	return resources{keys: keys, maxBytes: maxBytes, ids: map[string]uint32{}, attrs: []pcommon.Map{pcommon.NewMap()}}
}

// key returns the map key of the resource with attributes in (in a buffer reused by the
// next call): its key attributes' names and values as they are kept, and what bounding did.
func (r *resources) key(in pcommon.Map) ([]byte, resourceFlaws) {
	k := r.keyBuf[:0]
	var flaws resourceFlaws
	for _, name := range r.keys {
		if v, ok := in.Get(name); ok {
			s, oversized, repaired := transition.BoundName(v.AsString(), r.maxBytes)
			switch {
			case oversized:
				flaws |= resourceOversized
			case repaired:
				flaws |= resourceRepaired
			}
			if !oversized {
				k = append(k, name...)
				k = append(k, '=')
				k = append(k, s...)
			}
		}
		k = append(k, 0)
	}
	r.keyBuf = k
	return k, flaws
}

// id returns the id of the output resource of an input resource's attributes, and what
// bounding did to them.
func (r *resources) id(in pcommon.Map) (uint32, resourceFlaws) {
	k, flaws := r.key(in)
	if id, ok := r.ids[string(k)]; ok {
		return id, flaws
	}
	if len(r.attrs) > maxResources {
		r.refused++
		return 0, flaws
	}
	attrs := pcommon.NewMap()
	for _, name := range r.keys {
		v, ok := in.Get(name)
		if !ok {
			continue
		}
		switch s, oversized, repaired := transition.BoundName(v.AsString(), r.maxBytes); {
		case oversized:
		case repaired:
			attrs.PutStr(name, s)
		default:
			v.CopyTo(attrs.PutEmpty(name))
		}
	}
	id := uint32(len(r.attrs))
	r.attrs = append(r.attrs, attrs)
	r.ids[string(k)] = id
	return id, flaws
}

// write copies the attributes of output resource id into out.
func (r *resources) write(id uint32, out pcommon.Map) { r.attrs[id].CopyTo(out) }

func (r *resources) takeRefused() int64 {
	n := r.refused
	r.refused = 0
	return n
}

// maxTuples bounds the distinct tuples of extra-dimension values held at once; past it, a
// transition's facts go to the overflow series (counted).
const maxTuples = 1 << 16

// tuples interns the values of the extra dimensions of transitions held in the entity log,
// counting references: a tuple is freed when the last transition that carries it leaves
// the log. Id 0 is "no extra dimensions", 1 is "could not be kept".
type tuples struct {
	ids     map[string]uint32
	vals    [][]string
	refs    []int32
	free    []uint32
	keyBuf  []byte
	refused int64
}

const (
	noTuple       = 0
	overflowTuple = 1
)

func newTuples() tuples {
	return tuples{ids: map[string]uint32{}, vals: make([][]string, 2), refs: make([]int32, 2)}
}

// key returns the map key of vals (in a buffer reused by the next call).
func (t *tuples) key(vals []string) []byte {
	k := t.keyBuf[:0]
	for _, v := range vals {
		k = append(k, v...)
		k = append(k, 0)
	}
	t.keyBuf = k
	return k
}

// acquire returns the id of vals, taking a reference.
func (t *tuples) acquire(vals []string) uint32 {
	k := t.key(vals)
	id, ok := t.ids[string(k)]
	if !ok {
		if len(t.ids) >= maxTuples {
			t.refused++
			return overflowTuple
		}
		kept := make([]string, len(vals))
		for i, v := range vals {
			kept[i] = strings.Clone(v)
		}
		if n := len(t.free); n > 0 {
			id, t.free = t.free[n-1], t.free[:n-1]
			t.vals[id] = kept
		} else {
			id = uint32(len(t.vals))
			t.vals = append(t.vals, kept)
			t.refs = append(t.refs, 0)
		}
		t.ids[string(k)] = id
	}
	t.refs[id]++
	return id
}

// release drops a reference; the tuple goes with its last one.
func (t *tuples) release(id uint32) {
	if id <= overflowTuple {
		return
	}
	if t.refs[id]--; t.refs[id] > 0 {
		return
	}
	delete(t.ids, string(t.key(t.vals[id])))
	t.vals[id] = nil
	t.free = append(t.free, id)
}

// values returns a tuple's values; false for one that could not be kept.
func (t *tuples) values(id uint32) ([]string, bool) {
	if id == overflowTuple {
		return nil, false
	}
	return t.vals[id], true
}

func (t *tuples) takeRefused() int64 {
	n := t.refused
	t.refused = 0
	return n
}
