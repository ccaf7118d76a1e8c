package gateway

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// metaServer records the _meta of every tool call, completes prompt
// arguments and has a subscribable resource.
func metaServer(seen chan<- mcp.Meta) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "meta"}, &mcp.ServerOptions{
		CompletionHandler: func(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{
				Values: []string{req.Params.Ref.Type + ":" + req.Params.Ref.Name + req.Params.Ref.URI + ":" + req.Params.Argument.Value + "-done"}}}, nil
		},
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	s.AddTool(&mcp.Tool{Name: "meta", InputSchema: emptyObject}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		seen <- req.Params.Meta
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
	})
	s.AddPrompt(&mcp.Prompt{Name: "greet", Arguments: []*mcp.PromptArgument{{Name: "who"}}}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}}}, nil
	})
	s.AddResource(&mcp.Resource{URI: "meta://watched", Name: "watched"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "meta://watched", Text: "v"}}}, nil
	})
	s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "meta://item/{id}", Name: "item"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "item"}}}, nil
	})
	return s
}

func TestMetaForwarding(t *testing.T) {
	t.Parallel()
	seen := make(chan mcp.Meta, 1)
	up := startLegacyUpstream(t, metaServer(seen))
	gw := startGateway(t, nil, upstreamConfig("m", up.URL))
	cs := connect(t, gw.URL, legacy, nil)
	params := &mcp.CallToolParams{Name: "m__meta", Meta: mcp.Meta{
		"io.modelcontextprotocol/related-task": "client-hop-only",
		callMetaKey:                            "forged-call-id",
		"com.example/trace":                    "invented",
		"authorization":                        "Bearer client-token",
		"progressToken":                        "tok-1",
	}}
	if _, err := cs.CallTool(ctxTimeout(t), params); err != nil {
		t.Fatal(err)
	}
	got := <-seen
	// Only what the upstream needs travels: the gateway's progress token
	// (and trace context when tracing is on).
	for k := range got {
		if k != "progressToken" && k != "traceparent" && k != "tracestate" {
			t.Errorf("_meta key %q reached the upstream: %v", k, got)
		}
	}
	if tok, _ := got["progressToken"].(string); tok == "" || tok == "tok-1" {
		t.Errorf("progress token %v: want the gateway's own token, not the client's", got["progressToken"])
	}
}

func TestCompletionRoutedToOwner(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, metaServer(make(chan mcp.Meta, 4)))
	gw := startGateway(t, nil, upstreamConfig("m", up.URL))
	for name, version := range eras {
		t.Run(name, func(t *testing.T) {
			cs := connect(t, gw.URL, version, nil)
			cases := map[string]struct {
				ref  *mcp.CompleteReference
				want string
			}{
				"prompt":   {&mcp.CompleteReference{Type: "ref/prompt", Name: "m__greet"}, "ref/prompt:greet:wo-done"},
				"template": {&mcp.CompleteReference{Type: "ref/resource", URI: "meta://item/{id}"}, "ref/resource:meta://item/{id}:wo-done"},
			}
			for cname, tc := range cases {
				res, err := cs.Complete(ctxTimeout(t), &mcp.CompleteParams{Ref: tc.ref, Argument: mcp.CompleteParamsArgument{Name: "who", Value: "wo"}})
				if err != nil || len(res.Completion.Values) != 1 || res.Completion.Values[0] != tc.want {
					t.Errorf("%s: %v %+v, want %q", cname, err, res, tc.want)
				}
			}
			_, err := cs.Complete(ctxTimeout(t), &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "nope"}, Argument: mcp.CompleteParamsArgument{Name: "x"}})
			if err == nil || !strings.Contains(err.Error(), "unknown") {
				t.Errorf("completion for an unknown prompt: %v", err)
			}
		})
	}
}

func TestResourceSubscriptionRelayed(t *testing.T) {
	t.Parallel()
	srv := metaServer(make(chan mcp.Meta, 4))
	up := startLegacyUpstream(t, srv)
	gw := startGateway(t, nil, upstreamConfig("m", up.URL))
	updated := make(chan string, 4)
	subscriber := connect(t, gw.URL, legacy, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) { updated <- req.Params.URI },
	})
	bystander := make(chan string, 4)
	connect(t, gw.URL, legacy, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) { bystander <- req.Params.URI },
	})
	if err := subscriber.Subscribe(ctxTimeout(t), &mcp.SubscribeParams{URI: "meta://watched"}); err != nil {
		t.Fatal(err)
	}
	if err := subscriber.Subscribe(ctxTimeout(t), &mcp.SubscribeParams{URI: "meta://unknown"}); err == nil {
		t.Error("subscribing to a URI no upstream offers succeeded")
	}
	// The upstream announces the change to its subscriber, the gateway.
	// The upstream answered the subscribe before Subscribe returned.
	if err := srv.ResourceUpdated(context.Background(), &mcp.ResourceUpdatedNotificationParams{URI: "meta://watched"}); err != nil {
		t.Fatal(err)
	}
	select {
	case uri := <-updated:
		if uri != "meta://watched" {
			t.Errorf("the subscriber was told of %s, want meta://watched", uri)
		}
	case <-ctxTimeout(t).Done():
		t.Fatal("the subscriber got no update")
	}
	select {
	case uri := <-bystander:
		t.Errorf("a session that did not subscribe got an update for %s", uri)
	default:
	}
	if err := subscriber.Unsubscribe(ctxTimeout(t), &mcp.UnsubscribeParams{URI: "meta://watched"}); err != nil {
		t.Fatal(err)
	}
}

// samplingServer asks the client for a completion during a call.
func samplingServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "sampler"}, nil)
	s.AddTool(&mcp.Tool{Name: "summarise", InputSchema: emptyObject}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 10,
			Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "summarise this"}}}})
		if err != nil {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: err.Error()}}}, nil
		}
		data, _ := json.Marshal(res.Content)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(data)}}}, nil
	})
	return s
}

func TestSamplingRelayedToTheCallingSession(t *testing.T) {
	t.Parallel()
	up := startLegacyUpstream(t, samplingServer())
	gw := startGateway(t, nil, upstreamConfig("s", up.URL))
	t.Run("client with sampling", func(t *testing.T) {
		cs := connect(t, gw.URL, legacy, &mcp.ClientOptions{
			CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
				return &mcp.CreateMessageResult{Model: "test", Role: "assistant", Content: &mcp.TextContent{Text: "a summary"}}, nil
			},
		})
		res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "s__summarise"})
		if err != nil || !strings.Contains(textOf(t, res), "a summary") {
			t.Errorf("sampling through the gateway: %v %+v", err, res)
		}
	})
	t.Run("client without sampling", func(t *testing.T) {
		cs := connect(t, gw.URL, legacy, nil)
		res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "s__summarise"})
		if err != nil || !res.IsError || !strings.Contains(textOf(t, res), "did not declare the sampling capability") {
			t.Errorf("sampling a client without the capability: %v %q", err, textOf(t, res))
		}
	})
}

func TestRootsRelayedToTheCallingSession(t *testing.T) {
	t.Parallel()
	s := mcp.NewServer(&mcp.Implementation{Name: "rooted"}, nil)
	s.AddTool(&mcp.Tool{Name: "roots", InputSchema: emptyObject}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, err := req.Session.ListRoots(ctx, nil)
		if err != nil {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: err.Error()}}}, nil
		}
		var uris []string
		for _, r := range res.Roots {
			uris = append(uris, r.URI)
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Join(uris, ",")}}}, nil
	})
	up := startLegacyUpstream(t, s)
	gw := startGateway(t, nil, upstreamConfig("r", up.URL))
	c := mcp.NewClient(&mcp.Implementation{Name: "with-roots", Version: "1"}, nil)
	c.AddRoots(&mcp.Root{URI: "file:///work/project"})
	cs, err := c.Connect(ctxTimeout(t), &mcp.StreamableClientTransport{Endpoint: gw.URL}, &mcp.ClientSessionOptions{ProtocolVersion: legacy})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "r__roots"})
	if err != nil || textOf(t, res) != "file:///work/project" {
		t.Errorf("roots through the gateway: %v %q", err, textOf(t, res))
	}
}

// TestUpstreamCancelsItsRequest checks cancellation in the other direction:
// an upstream that gives up waiting for the client's answer cancels the
// relayed elicitation at the client.
func TestUpstreamCancelsItsRequest(t *testing.T) {
	t.Parallel()
	asked, clientCancelled := make(chan struct{}), make(chan struct{})
	s := mcp.NewServer(&mcp.Implementation{Name: "impatient"}, nil)
	var once sync.Once
	cancelledAtClient := func() { once.Do(func() { close(clientCancelled) }) }
	defer cancelledAtClient() // unblocks the upstream if the test fails
	s.AddTool(&mcp.Tool{Name: "ask", InputSchema: emptyObject}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		ectx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-asked:
				cancel()
			case <-ectx.Done():
			}
		}()
		_, err := req.Session.Elicit(ectx, &mcp.ElicitParams{Message: "wait",
			RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"x": map[string]any{"type": "string"}}}})
		// Stay in the call until the client saw the cancellation: the SDK
		// sends notifications/cancelled on the call's stream, which closes
		// with the call.
		select {
		case <-clientCancelled:
		case <-ctx.Done():
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "gave up: " + errText(err)}}}, nil
	})
	up := startLegacyUpstream(t, s)
	gw := startGateway(t, nil, upstreamConfig("i", up.URL))
	cs := connect(t, gw.URL, legacy, &mcp.ClientOptions{
		ElicitationHandler: func(ctx context.Context, _ *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			close(asked)
			<-ctx.Done() // never answers; only the upstream's cancellation ends this
			cancelledAtClient()
			return nil, ctx.Err()
		},
	})
	res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "i__ask"})
	if err != nil || !strings.HasPrefix(textOf(t, res), "gave up") {
		t.Fatalf("call: %v %+v", err, res)
	}
	select {
	case <-clientCancelled:
	case <-ctxTimeout(t).Done():
		t.Fatal("the client's elicitation was not cancelled after the upstream gave up")
	}
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestSubscriptionsAreCounted: the gateway holds one upstream subscription
// per resource for all its clients; it unsubscribes upstream after the last
// client unsubscribed or ended its session without unsubscribing.
func TestSubscriptionsAreCounted(t *testing.T) {
	t.Parallel()
	var subs, unsubs atomic.Int32
	unsubscribed := make(chan struct{}, 4)
	srv := mcp.NewServer(&mcp.Implementation{Name: "subs"}, &mcp.ServerOptions{
		SubscribeHandler: func(context.Context, *mcp.SubscribeRequest) error { subs.Add(1); return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error {
			unsubs.Add(1)
			unsubscribed <- struct{}{}
			return nil
		},
	})
	srv.AddResource(&mcp.Resource{URI: "sub://x", Name: "x"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "sub://x", Text: "x"}}}, nil
	})
	up := startLegacyUpstream(t, srv)
	gw := startGateway(t, nil, upstreamConfig("s", up.URL))
	a, b := connect(t, gw.URL, legacy, nil), connect(t, gw.URL, legacy, nil)
	ctx := ctxTimeout(t)
	for _, cs := range []*mcp.ClientSession{a, b} {
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "sub://x"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := subs.Load(); n != 1 {
		t.Errorf("two clients subscribed: %d upstream subscribes, want 1", n)
	}
	if err := a.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: "sub://x"}); err != nil {
		t.Fatal(err)
	}
	if n := unsubs.Load(); n != 0 {
		t.Errorf("one of two clients unsubscribed: %d upstream unsubscribes, want 0", n)
	}
	// b ends its session without unsubscribing.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// The gateway unsubscribes when it sees the session end, after Close.
	select {
	case <-unsubscribed:
	case <-ctxTimeout(t).Done():
		t.Fatal("no upstream unsubscribe after the last session ended")
	}
	if n := unsubs.Load(); n != 1 {
		t.Errorf("after the last session ended: %d upstream unsubscribes, want 1", n)
	}
	// A new subscription subscribes upstream again.
	if err := a.Subscribe(ctx, &mcp.SubscribeParams{URI: "sub://x"}); err != nil {
		t.Fatal(err)
	}
	if n := subs.Load(); n != 2 {
		t.Errorf("after the upstream unsubscribe, a new subscribe made %d upstream subscribes in all, want 2", n)
	}
}

// A 2026-07-28 client subscribes to resources with subscriptions/listen:
// each resource is decided like any other request, with the caller's
// identity and address, and updates reach the client.
func TestResourceSubscriptionListen2026(t *testing.T) {
	t.Parallel()
	srv := metaServer(make(chan mcp.Meta, 4))
	up := startLegacyUpstream(t, srv)
	rec := &recordingAuthorizer{}
	opts := testOptions()
	opts.Authorizer = rec
	gw := startGateway(t, opts, upstreamConfig("m", up.URL))
	updated := make(chan string, 4)
	cs := connect(t, gw.URL, modern, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) { updated <- req.Params.URI },
	})
	if err := cs.Subscribe(ctxTimeout(t), &mcp.SubscribeParams{URI: "meta://watched"}); err != nil {
		t.Fatalf("2026-07-28 subscribe: %v", err)
	}
	eventually(t, "the update through the listen stream", func() bool {
		err := srv.ResourceUpdated(context.Background(), &mcp.ResourceUpdatedNotificationParams{URI: "meta://watched"})
		select {
		case uri := <-updated:
			return err == nil && uri == "meta://watched"
		default:
			return false
		}
	})
	decided := false
	for _, in := range rec.recorded() {
		if in["method"] == "resources/subscribe" {
			decided = lookup(in, "user.sub") == testUser.Subject && lookup(in, "request.remote_addr") == "127.0.0.1" &&
				lookup(in, "resource.uri") == "meta://watched"
		}
	}
	if !decided {
		t.Errorf("no call-phase decision of the subscription with the caller and address: %v", rec.recorded())
	}
}
