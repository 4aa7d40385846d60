package replay

import (
	"strconv"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := New(3, time.Minute)
	if !c.Add("a", now) {
		t.Fatal("first sight refused")
	}
	if c.Add("a", now.Add(59*time.Second)) {
		t.Fatal("replay within the lifetime accepted")
	}
	if !c.Add("a", now.Add(61*time.Second)) {
		t.Fatal("expired entry still refused")
	}
	for i := range 10 {
		c.Add(strconv.Itoa(i), now.Add(62*time.Second))
	}
	if n := c.Len(); n > 3 {
		t.Fatalf("cache holds %d entries, bound 3", n)
	}
}
