// Package replay is a bounded, expiring cache of seen authenticators, for acceptors
// that must refuse a replayed one within its lifetime (Kerberos, PKU2U).
package replay

import (
	"sync"
	"time"
)

// Cache remembers keys for a fixed lifetime. Make it with New; it is safe for
// concurrent use.
type Cache struct {
	mu   sync.Mutex
	max  int
	life time.Duration
	m    map[string]time.Time
}

// New returns a cache of at most max entries, each kept for life.
func New(max int, life time.Duration) *Cache {
	return &Cache{max: max, life: life, m: make(map[string]time.Time)}
}

// Add records key as seen at now and reports whether it is new; false means a replay.
func (r *Cache) Add(key string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if exp, ok := r.m[key]; ok && now.Before(exp) {
		return false
	}
	if len(r.m) >= r.max {
		for k, exp := range r.m {
			if !now.Before(exp) {
				delete(r.m, k)
			}
		}
		// Still full: drop arbitrary entries. Their authenticators could be replayed,
		// but only within the lifetime and only under a flood; the bound wins.
		for k := range r.m {
			if len(r.m) < r.max {
				break
			}
			delete(r.m, k)
		}
	}
	r.m[key] = now.Add(r.life)
	return true
}

// Len is the number of entries held.
func (r *Cache) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}
