package gateway

import (
	"context"
	"errors"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// subscriptions counts client sessions subscribed to each upstream resource,
// so the gateway subscribes upstream once for the first client and
// unsubscribes after the last, also when a session ends without
// unsubscribing.
type subscriptions struct {
	mu      sync.Mutex
	subs    map[subKey]*subscription
	watched map[*mcp.ServerSession]bool // sessions whose end is awaited
}

type subKey struct {
	up  *upstream
	uri string
}

// subscription is one upstream subscription and the sessions holding it.
// done is closed once the upstream answered the first subscribe (err).
type subscription struct {
	sessions map[*mcp.ServerSession]bool
	done     chan struct{}
	err      error
}

func (s *subscriptions) subscribe(ctx context.Context, g *Gateway, ss *mcp.ServerSession, u *upstream, uri string) error {
	k := subKey{u, uri}
	s.mu.Lock()
	if s.subs == nil {
		s.subs, s.watched = map[subKey]*subscription{}, map[*mcp.ServerSession]bool{}
	}
	sub, exists := s.subs[k]
	if !exists {
		sub = &subscription{sessions: map[*mcp.ServerSession]bool{}, done: make(chan struct{})}
		s.subs[k] = sub
	}
	sub.sessions[ss] = true
	if !s.watched[ss] {
		s.watched[ss] = true
		go s.watch(g, ss)
	}
	s.mu.Unlock()
	if exists {
		// Another session's subscribe reaches the upstream: its answer is
		// this one's too.
		select {
		case <-sub.done:
		case <-ctx.Done():
			s.leave(ss, k, sub)
			return ctx.Err()
		}
		if sub.err != nil {
			s.leave(ss, k, sub)
		}
		return sub.err
	}
	sub.err = g.forward(ctx, ss, u, nil, "resources/subscribe", "", nil, func(ctx context.Context, cs *mcp.ClientSession, meta mcp.Meta) error {
		return cs.Subscribe(ctx, &mcp.SubscribeParams{Meta: meta, URI: uri})
	})
	if sub.err != nil {
		s.mu.Lock()
		if s.subs[k] == sub {
			delete(s.subs, k) // a later subscribe tries the upstream again
		}
		s.mu.Unlock()
	}
	close(sub.done)
	return sub.err
}

// leave removes ss from a subscription whose upstream subscribe it did
// not make.
func (s *subscriptions) leave(ss *mcp.ServerSession, k subKey, sub *subscription) {
	s.mu.Lock()
	delete(sub.sessions, ss)
	if len(sub.sessions) == 0 && s.subs[k] == sub && sub.err != nil {
		delete(s.subs, k)
	}
	s.mu.Unlock()
}

// unsubscribe ends ss's subscription to uri, whichever upstream serves it
// now, and the upstream subscription with the last one. A session that did
// not subscribe changes nothing.
func (s *subscriptions) unsubscribe(ctx context.Context, g *Gateway, ss *mcp.ServerSession, uri string) error {
	var errs []error
	for _, k := range s.remove(ss, func(k subKey) bool { return k.uri == uri }) {
		errs = append(errs, g.forward(ctx, ss, k.up, nil, "resources/unsubscribe", "", nil, func(ctx context.Context, cs *mcp.ClientSession, meta mcp.Meta) error {
			return cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{Meta: meta, URI: k.uri})
		}))
	}
	return errors.Join(errs...)
}

// remove takes ss out of the subscriptions whose key match accepts and
// returns the keys nobody holds any more.
func (s *subscriptions) remove(ss *mcp.ServerSession, match func(subKey) bool) []subKey {
	var last []subKey
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, sub := range s.subs {
		if !match(k) || !sub.sessions[ss] {
			continue
		}
		delete(sub.sessions, ss)
		if len(sub.sessions) == 0 {
			delete(s.subs, k)
			last = append(last, k)
		}
	}
	return last
}

// watch waits for a subscribed session to end and then ends what it still
// held, unsubscribing upstream where it was the last.
func (s *subscriptions) watch(g *Gateway, ss *mcp.ServerSession) {
	ss.Wait()
	last := s.remove(ss, func(subKey) bool { return true })
	s.mu.Lock()
	delete(s.watched, ss)
	s.mu.Unlock()
	for _, k := range last {
		if cs, err := k.up.session(); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), k.up.timeout())
			_ = cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: k.uri})
			cancel()
		}
	}
}

// resubscribe renews u's subscriptions on a new upstream session.
func (s *subscriptions) resubscribe(ctx context.Context, u *upstream, cs *mcp.ClientSession) {
	s.mu.Lock()
	var uris []string
	for k, sub := range s.subs {
		if k.up == u && len(sub.sessions) > 0 {
			uris = append(uris, k.uri)
		}
	}
	s.mu.Unlock()
	for _, uri := range uris {
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
			u.log.Warn("resubscribe", "uri", uri, "err", err)
		}
	}
}
