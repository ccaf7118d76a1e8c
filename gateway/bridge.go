package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/internal/sealbox"
)

// The bridge from an upstream of the 2025 revisions to a 2026-07-28 client
// (issue #15). Such an upstream asks its client for input during a call,
// with a request on the call's stream (elicitation, sampling, roots); a
// 2026-07-28 client cannot be asked that way, and is asked with an
// input-required result instead (SEP-2322), which it answers by calling
// again with inputResponses and the requestState it was given.
//
// So the gateway parks the call: it gathers what the upstream asks (the
// requests that arrive within gatherWindow of the first), answers the
// client with an input-required result whose requestState is sealed by
// this gateway process (AES-GCM; bound to the caller, the method and the
// target, and expiring with the parked call), and keeps the upstream's
// stream open. When the client calls again with that state, the responses
// it gives are posted to the upstream as the answers to its requests, and
// the call goes on: to its result, or to another round of input. A
// request the client did not answer is asked again. The parked call lives
// in this process: a retry that reaches another replica, or comes after
// parkedTTL, is refused with an error saying to call again without
// requestState (the upstream's call is cancelled on expiry).

// parkedTTL is how long a parked call waits for the client's next call.
const parkedTTL = 5 * time.Minute

// gatherWindow is how long requests of the upstream are gathered into one
// input-required result after the first.
const gatherWindow = 25 * time.Millisecond

// maxParked bounds the calls parked at once in one gateway, and
// maxParkedPerCaller those of one caller (checked before a call starts).
const (
	maxParked          = 1024
	maxParkedPerCaller = 16
)

// maxAskParams bounds the params of one request the upstream makes of the
// client: a parked call holds them until the client comes back.
const maxAskParams = 256 << 10

// stateTag starts a requestState the gateway sealed.
const stateTag = "mcpgate.rs1."

// parkedAsk is one request of the upstream waiting for the client.
type parkedAsk struct {
	id     json.RawMessage // the upstream's id of the request
	method string
	params json.RawMessage
}

// parkedCall is one call of a 2026-07-28 client on an upstream session,
// being bridged.
type parkedCall struct {
	id                   string
	caller, method, name string // who may resume it, and with what request (to u)
	u                    *upstream
	t                    fastTarget
	upID                 string // the upstream's id of the call
	want                 []byte // upID as JSON
	msgs                 chan []byte
	readErr              error         // why msgs closed, once it has
	done                 chan struct{} // closed when the call ends
	ending               sync.Once
	stop                 context.CancelFunc
	body                 io.Closer
	timer                *time.Timer // ends the call when the client does not come back
	ended                bool        // under parkedCalls.mu: it may not be parked again

	asks map[string]parkedAsk // by the key the client answers under
	next int                  // the number of the next key
}

// parkedCalls are the calls parked in this gateway.
type parkedCalls struct {
	once sync.Once
	box  *sealbox.Box
	ttl  atomic.Int64 // parkedTTL in nanoseconds when 0; tests shorten it

	mu     sync.Mutex
	m      map[string]*parkedCall
	closed bool // the gateway is shutting down: nothing is parked
}

// init makes the key that seals this process's request states, once.
func (pcs *parkedCalls) init() {
	pcs.once.Do(func() {
		key := make([]byte, sealbox.KeySize)
		rand.Read(key) // never fails (crypto/rand)
		box, err := sealbox.New([][]byte{key}, "request state")
		if err != nil {
			panic("gateway: request state key: " + err.Error()) // a key of KeySize bytes always makes a Box
		}
		pcs.box, pcs.m = box, map[string]*parkedCall{}
	})
}

// callerOf names the caller of ctx for a parked call: the issuer and
// subject of the verified token ("" without sign-in).
func callerOf(ctx context.Context) string {
	id, ok := authn.FromContext(ctx)
	if !ok || id == nil {
		return ""
	}
	return employeeKey(id)
}

// bridged reports whether a call over t is bridged: a 2026-07-28 client on
// an upstream session.
func (fc *fastCall) bridged(t fastTarget) bool { return !fc.legacy() && t.session != "" }

// startBridge takes over the upstream's answer resp, an event stream, to
// the call upID: a goroutine reads it into the parked call's msgs,
// resuming it when the upstream closes it early (followStream). ctx is
// the upstream request's, which outlives the client's request.
func startBridge(ctx context.Context, u *upstream, t fastTarget, op fastOp, upID string, resp *http.Response, stop context.CancelFunc) *parkedCall {
	want, _ := json.Marshal(upID)
	pc := &parkedCall{caller: callerOf(ctx), method: op.method, name: op.upstream, u: u, t: t, upID: upID, want: want,
		msgs: make(chan []byte, 2), done: make(chan struct{}), stop: stop, body: resp.Body, asks: map[string]parkedAsk{}}
	go func() {
		src := bufio.NewReader(resp.Body)
		handle := func(data []byte) (bool, error) {
			select {
			case pc.msgs <- bytes.Clone(data):
				return false, nil
			case <-pc.done:
				return true, nil
			}
		}
		var cur sseCursor
		err := u.followStream(ctx, t, &cur, readEvents(src, &cur, u.maxMessage, handle), handle)
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = nil
		}
		pc.readErr = err
		close(pc.msgs)
	}()
	return pc
}

// end closes the parked call's stream and forgets it; cancel also tells
// the upstream the call is cancelled.
func (pcs *parkedCalls) end(pc *parkedCall, cancel string) {
	pc.ending.Do(func() {
		pcs.mu.Lock()
		pc.ended = true
		if pc.id != "" && pcs.m[pc.id] == pc {
			delete(pcs.m, pc.id)
		}
		if pc.timer != nil {
			pc.timer.Stop()
		}
		pcs.mu.Unlock()
		if cancel != "" {
			go pc.u.cancelUpstream(pc.t, pc.upID, cancel)
		}
		close(pc.done)
		pc.stop()
		pc.body.Close()
	})
}

// closeAll ends every parked call, and parks none from now on: the
// gateway is shutting down.
func (pcs *parkedCalls) closeAll() {
	pcs.mu.Lock()
	pcs.closed = true
	parked := make([]*parkedCall, 0, len(pcs.m))
	for _, pc := range pcs.m {
		parked = append(parked, pc)
	}
	pcs.mu.Unlock()
	for _, pc := range parked {
		pcs.end(pc, "the gateway is shutting down")
	}
}

// full reports whether caller may not have another call parked, nor begin
// one that may be: checked before a bridged call starts, so that a tool is
// not run for a call that could not be parked.
func (pcs *parkedCalls) full(caller string) bool {
	pcs.mu.Lock()
	defer pcs.mu.Unlock()
	return pcs.closed || len(pcs.m) >= maxParked || pcs.countLocked(caller) >= maxParkedPerCaller
}

func (pcs *parkedCalls) countLocked(caller string) int {
	n := 0
	for _, pc := range pcs.m {
		if pc.caller == caller {
			n++
		}
	}
	return n
}

// errParkingFull refuses a bridged call before it starts.
var errParkingFull = &jsonrpc.Error{Code: jsonrpc.CodeInternalError,
	Message: "mcpgate: too many calls are waiting for their client's input (or the gateway is shutting down); answer or abandon those first"}

// drive reads the bridged call's stream: relaying notifications, ending
// with the upstream's response, or parking the call when the upstream
// asks for input.
func (fc *fastCall) drive(ctx context.Context, g *Gateway, pc *parkedCall) error {
	var gather <-chan time.Time
	for {
		select {
		case data, ok := <-pc.msgs:
			if !ok {
				g.parked.end(pc, "")
				if pc.readErr != nil {
					return fmt.Errorf("%w: %w", errBadAnswer, pc.readErr)
				}
				return fmt.Errorf("%w: the upstream ended the call's stream without a response", errBadAnswer)
			}
			var m upstreamMessage
			if err := json.Unmarshal(data, &m); err != nil {
				g.parked.end(pc, "the gateway could not read the upstream's message")
				return fmt.Errorf("%w: upstream sent a message that is not JSON-RPC: %w", errBadAnswer, err)
			}
			switch {
			case m.Method != "" && len(m.ID) == 0:
				fc.notification(ctx, pc.u, &m)
			case m.Method != "" && !fc.declared(m.Method):
				err := fc.refuseUndeclared(ctx, pc.u, pc.t, &m)
				g.parked.end(pc, "the client cannot answer what the upstream asked of it")
				return err
			case m.Method != "":
				if _, relayed := askedCapability[m.Method]; !relayed {
					fc.message(ctx, g, pc.u, pc.t, pc.want, data) // refused with method not found
					continue
				}
				if len(pc.asks) >= maxAsks || len(m.Params) > maxAskParams {
					g.parked.end(pc, "the upstream asked the client for too much at once")
					return fmt.Errorf("%w: the upstream asked the client for more than %d requests, or more than %d KiB, at once", errBadAnswer, maxAsks, maxAskParams>>10)
				}
				pc.next++
				pc.asks["input-"+strconv.Itoa(pc.next)] = parkedAsk{id: m.ID, method: m.Method, params: m.Params}
				if gather == nil {
					gather = time.After(gatherWindow)
				}
			default:
				done, err := fc.message(ctx, g, pc.u, pc.t, pc.want, data)
				if done {
					g.parked.end(pc, "")
					return err
				}
			}
		case <-gather:
			return fc.park(g, pc)
		case <-ctx.Done():
			g.parked.end(pc, "the client's call ended")
			return ctx.Err()
		}
	}
}

// park answers the client with an input-required result for the parked
// call's open requests, and keeps the call for the client's next call.
func (fc *fastCall) park(g *Gateway, pc *parkedCall) error {
	pcs := &g.parked
	pcs.init()
	// A new id for every round, so that the state of an earlier round
	// names nothing.
	pcs.mu.Lock()
	if pc.id != "" && pcs.m[pc.id] == pc {
		delete(pcs.m, pc.id)
	}
	if pc.ended {
		pcs.mu.Unlock()
		return errStateRefused("the call it belongs to has ended")
	}
	if pcs.closed || len(pcs.m) >= maxParked || pcs.countLocked(pc.caller) >= maxParkedPerCaller {
		pcs.mu.Unlock()
		pcs.end(pc, "the gateway holds too many calls waiting for input")
		return errParkingFull
	}
	pc.id = rand.Text()
	id := pc.id
	pcs.m[id] = pc
	ttl := time.Duration(pcs.ttl.Load())
	if ttl == 0 {
		ttl = parkedTTL
	}
	expiry := time.Now().Add(ttl)
	if pc.timer == nil {
		pc.timer = time.AfterFunc(ttl, func() { pcs.end(pc, "the client did not give the input asked for in time") })
	} else {
		pc.timer.Reset(ttl)
	}
	pcs.mu.Unlock()
	state, err := pcs.seal(id, pc, expiry)
	if err != nil {
		pcs.end(pc, "the gateway cannot park the call")
		return fmt.Errorf("%w: seal the call's state: %w", errBadAnswer, err)
	}
	requests := make(map[string]json.RawMessage, len(pc.asks))
	for key, a := range pc.asks {
		params := a.params
		if len(params) == 0 {
			params = json.RawMessage(`{}`)
		}
		requests[key], _ = json.Marshal(struct {
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}{a.method, params})
	}
	fc.result, err = json.Marshal(map[string]any{"resultType": "input_required", "inputRequests": requests, "requestState": state})
	return err
}

// stateClaims is what a sealed requestState holds.
type stateClaims struct {
	ID      string `json:"p"`
	Caller  string `json:"c"`
	Method  string `json:"m"`
	Server  string `json:"s"` // the upstream's name in the configuration
	Name    string `json:"n"`
	Expires int64  `json:"x"`
}

var stateAD = []byte("mcpgate requestState")

func (pcs *parkedCalls) seal(id string, pc *parkedCall, expiry time.Time) (string, error) {
	plain, err := json.Marshal(stateClaims{id, pc.caller, pc.method, pc.u.cfg.Name, pc.name, expiry.UnixMilli()})
	if err != nil {
		return "", err
	}
	sealed, err := pcs.box.Seal(plain, stateAD)
	if err != nil {
		return "", err
	}
	return stateTag + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// gatewayState reports whether req carries a requestState of the
// gateway's.
func gatewayState(req mcp.Request) bool {
	var state string
	switch p := req.GetParams().(type) {
	case *mcp.CallToolParamsRaw:
		state = p.RequestState
	case *mcp.CallToolParams:
		state = p.RequestState
	case *mcp.GetPromptParams:
		state = p.RequestState
	case *mcp.ReadResourceParams:
		state = p.RequestState
	}
	return strings.HasPrefix(state, stateTag)
}

// errStateRefused is a requestState of the gateway that names no call it
// holds for this request.
func errStateRefused(why string) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "mcpgate: requestState refused: " + why +
		"; call again without requestState and inputResponses to start over"}
}

// resume takes the parked call that state names for the caller of ctx
// and the request method, name: it is no longer parked (a second retry
// with the same state finds nothing).
func (pcs *parkedCalls) resume(ctx context.Context, state, method string, u *upstream, name string) (*parkedCall, error) {
	pcs.init()
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(state, stateTag))
	if err != nil {
		return nil, errStateRefused("it is not one this gateway gave")
	}
	plain, err := pcs.box.Open(raw, stateAD)
	if err != nil {
		return nil, errStateRefused("it was not given by this gateway replica, or was changed")
	}
	var c stateClaims
	if err := json.Unmarshal(plain, &c); err != nil {
		return nil, errStateRefused("it is not one this gateway gave")
	}
	switch {
	case c.Caller != callerOf(ctx):
		return nil, errStateRefused("it was given to another caller")
	case c.Method != method || c.Server != u.cfg.Name || c.Name != name:
		return nil, errStateRefused("it was given for another request")
	case time.Now().UnixMilli() > c.Expires:
		return nil, errStateRefused("it has expired")
	}
	pcs.mu.Lock()
	defer pcs.mu.Unlock()
	pc := pcs.m[c.ID]
	if pc == nil || pc.u != u || pc.ended {
		return nil, errStateRefused("the call it belongs to has ended or was answered")
	}
	delete(pcs.m, c.ID)
	if !pc.timer.Stop() { // expiring right now: ended by its timer
		return nil, errStateRefused("it has expired")
	}
	return pc, nil
}

// resumeCall serves a 2026-07-28 client's call again with the requestState
// this gateway gave it: its responses go to the upstream, and the call
// goes on.
func (fc *fastCall) resumeCall(ctx context.Context, g *Gateway, op fastOp, p *fastParams) error {
	pc, err := g.parked.resume(ctx, p.RequestState, op.method, op.up, op.upstream)
	if err != nil {
		return err
	}
	var responses map[string]json.RawMessage
	if len(p.InputResponses) > 0 {
		if err := json.Unmarshal(p.InputResponses, &responses); err != nil {
			g.parked.end(pc, "the client's input responses could not be read")
			return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "mcpgate: inputResponses is not an object of responses"}
		}
	}
	for key, a := range pc.asks {
		resp, ok := responses[key]
		if !ok {
			continue // asked again below
		}
		if err := fc.answerUpstream(ctx, pc.u, pc.t, a.id, resp, nil); err != nil {
			g.parked.end(pc, "the gateway could not give the upstream the client's answer")
			pc.u.log.Debug("give the upstream the client's answer", "err", err)
			return errStateRefused("the upstream could not be given the answers (it may have restarted)")
		}
		delete(pc.asks, key)
	}
	if len(pc.asks) > 0 {
		return fc.park(g, pc)
	}
	return fc.drive(ctx, g, pc)
}
