package statelog

import (
	"strings"

	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
)

// entityWithLog is an entity created by its first transition: its record and the first
// transitions of its log in one allocation (one allocation fewer, and the log next to the
// record in memory). An entity first met in a hint has no transition yet, and may never
// have one: it is allocated bare.
type entityWithLog[P any] struct {
	Entity[P]
	log [initialEntries]Entry[P]
}

// entity returns the tracked entity for k, creating it (and making room) if needed, and
// marks it most recently used. withLog says that a transition is about to be entered.
func (l *Log[P]) entity(k Key, now int64, withLog bool) *Entity[P] {
	if e, ok := l.entities[k.Kind][k.ID]; ok {
		e.lastSeen = now
		l.lruMoveFront(e)
		return e
	}
	if l.Len() >= l.limits.MaxEntities {
		l.Expire()
		for l.Len() >= l.limits.MaxEntities && l.lruTail != nil {
			l.evict(l.lruTail, EvictCapacity, now)
		}
	}
	var e *Entity[P]
	if withLog {
		el := &entityWithLog[P]{}
		e = &el.Entity
		e.entries = el.log[:0]
	} else {
		e = &Entity[P]{}
	}
	e.Key, e.lastSeen = Key{k.Kind, strings.Clone(k.ID)}, now
	l.entities[e.Kind][e.ID] = e
	l.lruPushFront(e)
	return e
}

// maybeFinish marks a task finished when its log's latest state is terminal, and its steps
// with it. A step is finished only once its task is terminal (§5): a step's error is not
// terminal, and a completed step may still be resolved manually.
func (l *Log[P]) maybeFinish(e *Entity[P], now int64) {
	if e.Kind != tasker.KindTask || e.finishedAt != 0 || len(e.entries) == 0 {
		return
	}
	if !tasker.TaskMachine.Terminal(e.entries[len(e.entries)-1].To) {
		return
	}
	l.finish(e, now)
	for _, s := range e.steps {
		if !s.gone {
			l.finish(s, now)
		}
	}
}

func (l *Log[P]) finish(e *Entity[P], now int64) {
	if e.finishedAt != 0 {
		return
	}
	e.finishedAt = now
	e.inFinished = true
	e.fprev, e.fnext = l.finTail, nil
	if l.finTail != nil {
		l.finTail.fnext = e
	} else {
		l.finHead = e
	}
	l.finTail = e
}

// Expire evicts entities whose grace period after finishing, or whose idle time-to-live,
// has passed on the collector's clock. The connector settles an entity before it goes.
func (l *Log[P]) Expire() {
	now := l.clock.Now().UnixNano()
	grace, ttl := int64(l.limits.FinishedGrace), int64(l.limits.IdleTTL)
	for e := l.finHead; e != nil && e.finishedAt+grace <= now; e = l.finHead {
		l.evict(e, EvictFinished, now)
	}
	for e := l.lruTail; e != nil && e.lastSeen+ttl <= now; e = l.lruTail {
		l.evict(e, EvictIdle, now)
	}
	l.expireSources(now)
}

// Close settles and evicts everything (the connector's shutdown).
func (l *Log[P]) Close() {
	now := l.clock.Now().UnixNano()
	for e := l.lruTail; e != nil; e = l.lruTail {
		l.evict(e, EvictShutdown, now)
	}
	l.settleQ = nil
}

func (l *Log[P]) evict(e *Entity[P], why EvictReason, now int64) {
	if l.sink != nil {
		l.derive(e, now, true)
	}
	e.gone = true
	delete(l.entities[e.Kind], e.ID)
	l.lruRemove(e)
	if e.inFinished {
		l.finRemove(e)
	}
	l.stats.Evicted[e.Kind][why]++
	// Its steps may outlive it (evicted later, or still settling): they keep the namespace
	// learned for their task, which NamespaceOf can no longer look up.
	for _, s := range e.steps {
		if !s.gone && s.Namespace == "" {
			s.Namespace = e.Namespace
		}
	}
	e.entries, e.steps = nil, nil
}

func (l *Log[P]) lruPushFront(e *Entity[P]) {
	e.prev, e.next = nil, l.lruHead
	if l.lruHead != nil {
		l.lruHead.prev = e
	} else {
		l.lruTail = e
	}
	l.lruHead = e
}

func (l *Log[P]) lruRemove(e *Entity[P]) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.lruHead = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.lruTail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (l *Log[P]) lruMoveFront(e *Entity[P]) {
	if l.lruHead == e {
		return
	}
	l.lruRemove(e)
	l.lruPushFront(e)
}

func (l *Log[P]) finRemove(e *Entity[P]) {
	if e.fprev != nil {
		e.fprev.fnext = e.fnext
	} else {
		l.finHead = e.fnext
	}
	if e.fnext != nil {
		e.fnext.fprev = e.fprev
	} else {
		l.finTail = e.fprev
	}
	e.fprev, e.fnext, e.inFinished = nil, nil, false
}
