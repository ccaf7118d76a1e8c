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
	err := g.forward(ctx, ss, u, nil, func(ctx context.Context, cs *mcp.ClientSession, meta mcp.Meta) error {
		return cs.Subscribe(ctx, &mcp.SubscribeParams{Meta: meta, URI: uri})
	})
	if err != nil {
		s.mu.Lock()
		delete(s.subs[k], ss)
		s.mu.Unlock()
	}
	return err
}

func (s *subscriptions) unsubscribe(ctx context.Context, g *Gateway, ss *mcp.ServerSession, u *upstream, uri string) error {
	k := subKey{u, uri}
	s.mu.Lock()
	delete(s.subs[k], ss)
	last := len(s.subs[k]) == 0
	if last {
		delete(s.subs, k)
	}
	s.mu.Unlock()
	if !last {
		return nil
	}
	return g.forward(ctx, ss, u, nil, func(ctx context.Context, cs *mcp.ClientSession, meta mcp.Meta) error {
		return cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{Meta: meta, URI: uri})
	})
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
