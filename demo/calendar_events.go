package demo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/authn"
)

// Limits of the calendar's data.
const (
	maxEventsPerOwner = 500
	maxEventText      = 200 // runes of a title or location
	maxEventLength    = 31 * 24 * time.Hour
)

// Errors the calendar tools report to the client as tool errors.
var (
	errNoCaller       = errors.New("no verified caller: the call needs a bearer token from the calendar's authorization server")
	errMissingScope   = errors.New("the access token lacks the scope")
	errBadEvent       = errors.New("invalid event")
	errCalendarIsFull = errors.New("calendar full")
)

// event is one calendar entry of one owner.
type event struct {
	ID       string `json:"id" jsonschema:"the event id"`
	Title    string `json:"title" jsonschema:"what the event is"`
	Start    string `json:"start" jsonschema:"start time, RFC 3339"`
	End      string `json:"end" jsonschema:"end time, RFC 3339"`
	Location string `json:"location,omitempty" jsonschema:"where, if anywhere"`
}

// eventList is the result of list_events.
type eventList struct {
	Owner  string  `json:"owner" jsonschema:"whose calendar this is: the subject of the access token"`
	Events []event `json:"events" jsonschema:"the owner's events, by start time"`
}

type listEventsInput struct{}

type createEventInput struct {
	Title    string `json:"title" jsonschema:"what the event is, at most 200 characters"`
	Start    string `json:"start" jsonschema:"start time, RFC 3339, e.g. 2026-12-08T09:00:00Z"`
	End      string `json:"end" jsonschema:"end time, RFC 3339, after start and at most 31 days later"`
	Location string `json:"location,omitempty" jsonschema:"where, at most 200 characters"`
}

// calendarStore holds every owner's events, keyed by token subject.
type calendarStore struct {
	mu     sync.Mutex
	events map[string][]event
	next   int
}

// seedCalendars gives the demo users a few fixed events, so that a test
// reading a calendar can tell whose token was used.
func seedCalendars() *calendarStore {
	s := &calendarStore{events: map[string][]event{}}
	for _, e := range []struct{ owner, title, start, end, location string }{
		{"alice", "Design review: upstream credentials", "2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z", "Room Ada"},
		{"alice", "1:1 with Marcus", "2026-12-08T15:00:00Z", "2026-12-08T15:30:00Z", ""},
		{"bob", "Payroll close", "2026-12-07T09:00:00Z", "2026-12-07T10:00:00Z", "People office"},
		{"carol", "Security council", "2026-12-09T13:00:00Z", "2026-12-09T14:00:00Z", "Room Turing"},
	} {
		s.add(e.owner, event{Title: e.title, Start: e.start, End: e.end, Location: e.location})
	}
	return s
}

// add stores e for owner with a new id and returns it.
func (s *calendarStore) add(owner string, e event) (event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events[owner]) >= maxEventsPerOwner {
		return event{}, fmt.Errorf("%w: %d events at most", errCalendarIsFull, maxEventsPerOwner)
	}
	s.next++
	e.ID = fmt.Sprintf("EV%04d", s.next)
	list := append(s.events[owner], e)
	slices.SortStableFunc(list, func(a, b event) int { return strings.Compare(a.Start, b.Start) })
	s.events[owner] = list
	return e, nil
}

func (s *calendarStore) list(owner string) []event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event{}, s.events[owner]...)
}

// NewCalendar returns the calendar's MCP server with fresh seeded data. Its
// tools act for the subject of the caller's verified token, so it is meant
// to run behind the calendar's token check: use [StartCalendar].
func NewCalendar() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: CalendarName, Title: "mcpgate demo calendar", Version: version},
		&mcp.ServerOptions{
			Instructions: "Each employee's own calendar. Calls need the employee's OAuth token from the calendar's authorization server.",
			Capabilities: &mcp.ServerCapabilities{},
		})
	s := seedCalendars()
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "list_events",
		Description: "Lists the caller's calendar events by start time. Needs scope calendar.read.",
		Annotations: &mcp.ToolAnnotations{Title: "List my events", ReadOnlyHint: true, OpenWorldHint: new(false)},
	}, s.listEvents)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "create_event",
		Description: "Adds an event to the caller's calendar. Needs scope calendar.write.",
		Annotations: &mcp.ToolAnnotations{Title: "Create an event", DestructiveHint: new(false), OpenWorldHint: new(false)},
	}, s.createEvent)
	return srv
}

func (s *calendarStore) listEvents(_ context.Context, req *mcp.CallToolRequest, _ listEventsInput) (*mcp.CallToolResult, eventList, error) {
	owner, err := callerWith(req, ScopeCalendarRead)
	if err != nil {
		return nil, eventList{}, fmt.Errorf("list_events: %w", err)
	}
	out := eventList{Owner: owner, Events: s.list(owner)}
	lines := []string{fmt.Sprintf("%d events of %s:", len(out.Events), owner)}
	for _, e := range out.Events {
		lines = append(lines, fmt.Sprintf("%s %s–%s %s", e.ID, e.Start, e.End, e.Title))
	}
	return textResult(strings.Join(lines, "\n")), out, nil
}

func (s *calendarStore) createEvent(_ context.Context, req *mcp.CallToolRequest, in createEventInput) (*mcp.CallToolResult, event, error) {
	owner, err := callerWith(req, ScopeCalendarWrite)
	if err != nil {
		return nil, event{}, fmt.Errorf("create_event: %w", err)
	}
	e, err := in.event()
	if err == nil {
		e, err = s.add(owner, e)
	}
	if err != nil {
		return nil, event{}, fmt.Errorf("create_event: %w", err)
	}
	return textResult(fmt.Sprintf("Created %s for %s: %s, %s–%s.", e.ID, owner, e.Title, e.Start, e.End)), e, nil
}

// callerWith returns the subject of the caller's verified token, which
// must hold scope. The HTTP gate has checked both already; checking again
// here keeps the tools closed should a request ever slip past it.
func callerWith(req *mcp.CallToolRequest, scope string) (string, error) {
	var id *authn.Identity
	if req.Extra != nil { // nil off HTTP transports
		id = authn.IdentityFromTokenInfo(req.Extra.TokenInfo)
	}
	switch {
	case id == nil || id.Subject == "":
		return "", errNoCaller
	case !slices.Contains(id.Scopes, scope):
		return "", fmt.Errorf("%w %s", errMissingScope, scope)
	}
	return id.Subject, nil
}

// event validates the input and returns it as an event in UTC.
func (in createEventInput) event() (event, error) {
	title, location := strings.TrimSpace(in.Title), strings.TrimSpace(in.Location)
	start, startErr := time.Parse(time.RFC3339, strings.TrimSpace(in.Start))
	end, endErr := time.Parse(time.RFC3339, strings.TrimSpace(in.End))
	bad := func(format string, args ...any) (event, error) {
		return event{}, fmt.Errorf("%w: "+format, append([]any{errBadEvent}, args...)...)
	}
	switch {
	case title == "" || utf8.RuneCountInString(title) > maxEventText || !utf8.ValidString(title):
		return bad("title: must be 1 to %d characters", maxEventText)
	case utf8.RuneCountInString(location) > maxEventText || !utf8.ValidString(location):
		return bad("location: must be at most %d characters", maxEventText)
	case startErr != nil:
		return bad("start: must be an RFC 3339 time such as 2026-12-08T09:00:00Z")
	case endErr != nil:
		return bad("end: must be an RFC 3339 time such as 2026-12-08T10:00:00Z")
	case !end.After(start) || end.Sub(start) > maxEventLength:
		return bad("end: must be after start, and at most 31 days later")
	}
	return event{Title: title, Start: start.UTC().Format(time.RFC3339), End: end.UTC().Format(time.RFC3339), Location: location}, nil
}
