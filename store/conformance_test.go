package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/store"
)

// clock is a settable clock for expiry.
type clock struct{ now atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.now.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time               { return time.Unix(0, c.now.Load()) }
func (c *clock) Add(d time.Duration)          { c.now.Add(int64(d)) }
func (c *clock) opts() *store.Options         { return &store.Options{PurgeInterval: -1, Now: c.Now} }
func (c *clock) in(d time.Duration) time.Time { return c.Now().Add(d) }

// opener opens a fresh, empty store for one test with the given options.
type opener func(t *testing.T, opts *store.Options) store.Store

// conformance runs the contract of store.Store against one implementation.
func conformance(t *testing.T, open opener) {
	for name, test := range map[string]func(*testing.T, opener){
		"put get delete":    testPutGetDelete,
		"expiry":            testExpiry,
		"create":            testCreate,
		"create race":       testCreateRace,
		"namespaces":        testNamespaces,
		"closed":            testClosed,
		"cancelled context": testCancelled,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, open)
		})
	}
}

func mustGet(t *testing.T, s store.Store, ns, key string) (string, bool) {
	t.Helper()
	v, ok, err := s.Get(context.Background(), ns, key)
	if err != nil {
		t.Fatalf("get %s/%s: %v", ns, key, err)
	}
	return string(v), ok
}

func testPutGetDelete(t *testing.T, open opener) {
	ctx := context.Background()
	s := open(t, nil)
	if v, ok := mustGet(t, s, "ns", "k"); ok {
		t.Fatalf("missing key: %q, true", v)
	}
	if err := s.Put(ctx, "ns", "k", []byte("v1"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "ns", "k", []byte("v2"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if v, ok := mustGet(t, s, "ns", "k"); !ok || v != "v2" {
		t.Fatalf("after two puts: %q %v, want v2", v, ok)
	}
	if err := s.Put(ctx, "ns", "empty", nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if v, ok := mustGet(t, s, "ns", "empty"); !ok || v != "" {
		t.Errorf("empty value: %q %v, want present and empty", v, ok)
	}
	if err := s.Delete(ctx, "ns", "k"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "ns", "k"); err != nil {
		t.Errorf("deleting a missing key: %v", err)
	}
	if err := s.Delete(ctx, "never", "k"); err != nil {
		t.Errorf("deleting in an unknown namespace: %v", err)
	}
	if _, ok := mustGet(t, s, "ns", "k"); ok {
		t.Error("deleted key still there")
	}
	if err := s.Put(ctx, "ns", "", []byte("x"), time.Time{}); err == nil {
		t.Error("empty key accepted")
	}
}

func testExpiry(t *testing.T, open opener) {
	ctx := context.Background()
	c := newClock()
	s := open(t, c.opts())
	if err := s.Put(ctx, "ns", "short", []byte("s"), c.in(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "ns", "long", []byte("l"), c.in(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, ok := mustGet(t, s, "ns", "short"); !ok {
		t.Fatal("entry missing before its expiry")
	}
	c.Add(time.Minute)
	if _, ok := mustGet(t, s, "ns", "short"); ok {
		t.Error("entry returned at its expiry")
	}
	if _, ok := mustGet(t, s, "ns", "long"); !ok {
		t.Error("entry expiring later is gone")
	}
	// Put over an expired entry revives the key with the new expiry.
	if err := s.Put(ctx, "ns", "short", []byte("s2"), c.in(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if v, ok := mustGet(t, s, "ns", "short"); !ok || v != "s2" {
		t.Errorf("put over an expired entry: %q %v", v, ok)
	}
}

func testCreate(t *testing.T, open opener) {
	ctx := context.Background()
	c := newClock()
	s := open(t, c.opts())
	create := func(v string) bool {
		t.Helper()
		ok, err := s.Create(ctx, "codes", "k", []byte(v), c.in(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !create("first") {
		t.Fatal("create of a new key: false")
	}
	if create("second") {
		t.Error("create of an existing key: true")
	}
	if v, _ := mustGet(t, s, "codes", "k"); v != "first" {
		t.Errorf("value after a refused create: %q, want first", v)
	}
	c.Add(time.Minute)
	if !create("third") {
		t.Error("create over an expired entry: false")
	}
	if v, _ := mustGet(t, s, "codes", "k"); v != "third" {
		t.Errorf("value after create over an expired entry: %q", v)
	}
	if _, err := s.Create(ctx, "codes", "", nil, time.Time{}); err == nil {
		t.Error("empty key accepted")
	}
}

func testCreateRace(t *testing.T, open opener) {
	s := open(t, nil)
	const n = 32
	for round := range 5 {
		key := fmt.Sprint("k", round)
		var wins atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				ok, err := s.Create(context.Background(), "race", key, []byte(fmt.Sprint(i)), time.Now().Add(time.Hour))
				if err != nil {
					errs <- err
				}
				if ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if w := wins.Load(); w != 1 {
			t.Fatalf("round %d: %d of %d concurrent creates won, want exactly 1", round, w, n)
		}
	}
}

func testNamespaces(t *testing.T, open opener) {
	ctx := context.Background()
	s := open(t, nil)
	for _, ns := range []string{"a", "b"} {
		if err := s.Put(ctx, ns, "k", []byte(ns), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := s.Create(ctx, "c", "k", []byte("c"), time.Time{}); err != nil || !ok {
		t.Fatalf("create in a third namespace: %v %v", ok, err)
	}
	for _, ns := range []string{"a", "b", "c"} {
		if v, _ := mustGet(t, s, ns, "k"); v != ns {
			t.Errorf("%s/k = %q, want %q", ns, v, ns)
		}
	}
	if err := s.Delete(ctx, "a", "k"); err != nil {
		t.Fatal(err)
	}
	if v, ok := mustGet(t, s, "b", "k"); !ok || v != "b" {
		t.Errorf("delete in a removed b/k: %q %v", v, ok)
	}
}

func testClosed(t *testing.T, open opener) {
	ctx := context.Background()
	s := open(t, nil)
	if err := s.Put(ctx, "ns", "k", []byte("v"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	_, _, err := s.Get(ctx, "ns", "k")
	check := func(op string, err error) {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after close: %v, want ErrClosed", op, err)
		}
	}
	check("get", err)
	check("put", s.Put(ctx, "ns", "k", nil, time.Time{}))
	_, err = s.Create(ctx, "ns", "k2", nil, time.Time{})
	check("create", err)
	check("delete", s.Delete(ctx, "ns", "k"))
}

func testCancelled(t *testing.T, open opener) {
	s := open(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Get(ctx, "ns", "k"); err == nil {
		t.Error("get with a cancelled context: no error")
	}
	if err := s.Put(ctx, "ns", "k", nil, time.Time{}); err == nil {
		t.Error("put with a cancelled context: no error")
	}
}
