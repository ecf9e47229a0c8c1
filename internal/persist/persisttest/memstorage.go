// Package persisttest is an in-memory storage extension for the components' tests of their
// state across restarts: what one component writes, the next one made on it reads back,
// and a test can copy it at any moment, as a crash would leave it.
package persisttest

import (
	"context"
	"errors"
	"maps"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// Storage is a storage extension holding every client's keys in memory.
type Storage struct {
	component.StartFunc
	component.ShutdownFunc
	mu   sync.Mutex
	data map[string][]byte // client name + "/" + key → value
	// Fail, when set, makes every write (Set, Delete, Batch) fail with it (a full disk, say).
	Fail error
	// FailAfter, when positive, makes every write after that many fail with ErrFull.
	FailAfter int
	writes    int
}

// Writes returns how many writes (Set, Delete, Batch) the storage has seen.
func (s *Storage) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// ErrFull is what writes past FailAfter return.
var ErrFull = errors.New("persisttest: storage full")

// failing counts a write and says whether it fails; the lock is held.
func (s *Storage) failing() error {
	s.writes++
	if s.Fail != nil {
		return s.Fail
	}
	if s.FailAfter > 0 && s.writes > s.FailAfter {
		return ErrFull
	}
	return nil
}

var _ storage.Extension = (*Storage)(nil)

// New returns an empty storage.
func New() *Storage { return &Storage{data: map[string][]byte{}} }

// Copy returns a storage holding what this one holds now (what a crash leaves behind).
func (s *Storage) Copy() *Storage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &Storage{data: maps.Clone(s.data)}
}

// Keys returns the stored keys.
func (s *Storage) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.data {
		out = append(out, k)
	}
	return out
}

// Put stores a value under a client's key (to plant a bad snapshot).
func (s *Storage) Put(key string, v []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[key] = v
}

// Get returns what a client stored under a key.
func (s *Storage) Get(key string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data[key]
}

// GetClient implements storage.Extension; keys are named kind/id/name/key.
func (s *Storage) GetClient(_ context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	return &client{s: s, prefix: kind.String() + "/" + id.String() + "/" + name + "/"}, nil
}

type client struct {
	s      *Storage
	prefix string
}

func (c *client) Get(_ context.Context, key string) ([]byte, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	v, ok := c.s.data[c.prefix+key]
	if !ok {
		return nil, nil
	}
	return append([]byte(nil), v...), nil
}

func (c *client) Set(_ context.Context, key string, v []byte) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if err := c.s.failing(); err != nil {
		return err
	}
	c.s.data[c.prefix+key] = append([]byte(nil), v...)
	return nil
}

func (c *client) Delete(_ context.Context, key string) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if err := c.s.failing(); err != nil {
		return err
	}
	delete(c.s.data, c.prefix+key)
	return nil
}

// Batch applies every operation or none.
func (c *client) Batch(_ context.Context, ops ...*storage.Operation) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if err := c.s.failing(); err != nil {
		return err
	}
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			if v, ok := c.s.data[c.prefix+op.Key]; ok {
				op.Value = append([]byte(nil), v...)
			}
		case storage.Set:
			c.s.data[c.prefix+op.Key] = append([]byte(nil), op.Value...)
		case storage.Delete:
			delete(c.s.data, c.prefix+op.Key)
		}
	}
	return nil
}

func (c *client) Close(context.Context) error { return nil }
