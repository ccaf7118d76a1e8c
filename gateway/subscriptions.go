package gateway

import (
	"context"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// subscriptions counts client sessions subscribed to each upstream resource,
// so the gateway subscribes upstream once for the first client and
// unsubscribes after the last.
type subscriptions struct {
	mu   sync.Mutex
	subs map[subKey]map[*mcp.ServerSession]bool
}

type subKey struct {
	up  *upstream
	uri string
}

func (s *subscriptions) subscribe(ctx context.Context, g *Gateway, ss *mcp.ServerSession, u *upstream, uri string) error {
	k := subKey{u, uri}
	s.mu.Lock()
	if s.subs == nil {
		s.subs = map[subKey]map[*mcp.ServerSession]bool{}
	}
	first := len(s.subs[k]) == 0
	if first {
		s.subs[k] = map[*mcp.ServerSession]bool{}
	}
	s.subs[k][ss] = true
	s.mu.Unlock()
	if !first {
		return nil
	}
	err := g.forward(ctx, ss, u, "resources/subscribe", "", nil, func(ctx context.Context, cs *mcp.ClientSession, meta mcp.Meta) error {
		return cs.Subscribe(ctx, &mcp.SubscribeParams{Meta: meta, URI: uri})
	})
	if err != nil {
		s.mu.Lock()
		delete(s.subs[k], ss)
		s.mu.Unlock()
	}
	return err
}

// unsubscribe ends ss's subscription to uri, whichever upstream serves it
// now, and the upstream subscription with the last one. A session that did
// not subscribe changes nothing.
func (s *subscriptions) unsubscribe(ctx context.Context, g *Gateway, ss *mcp.ServerSession, uri string) error {
	var u *upstream
	last := false
	s.mu.Lock()
	for k, set := range s.subs {
		if k.uri == uri && set[ss] {
			delete(set, ss)
			u = k.up
			if last = len(set) == 0; last {
				delete(s.subs, k)
			}
			break
		}
	}
	s.mu.Unlock()
	if !last {
		return nil
	}
	return g.forward(ctx, ss, u, "resources/unsubscribe", "", nil, func(ctx context.Context, cs *mcp.ClientSession, meta mcp.Meta) error {
		return cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{Meta: meta, URI: uri})
	})
}

// sweep forgets the subscriptions of sessions that ended without
// unsubscribing and ends upstream subscriptions nobody holds any more.
func (s *subscriptions) sweep(ctx context.Context, g *Gateway, live func(*mcp.ServerSession) bool) {
	var drop []subKey
	s.mu.Lock()
	for k, set := range s.subs {
		for ss := range set {
			if !live(ss) {
				delete(set, ss)
			}
		}
		if len(set) == 0 {
			delete(s.subs, k)
			drop = append(drop, k)
		}
	}
	s.mu.Unlock()
	for _, k := range drop {
		if cs, err := k.up.session(); err == nil {
			cctx, cancel := context.WithTimeout(ctx, k.up.timeout())
			_ = cs.Unsubscribe(cctx, &mcp.UnsubscribeParams{URI: k.uri})
			cancel()
		}
	}
}

// resubscribe renews u's subscriptions on a new upstream session.
func (s *subscriptions) resubscribe(ctx context.Context, u *upstream, cs *mcp.ClientSession) {
	s.mu.Lock()
	var uris []string
	for k, set := range s.subs {
		if k.up == u && len(set) > 0 {
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
