package demo

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

const (
	// maxBodyBytes is the largest note body write_note accepts.
	maxBodyBytes = 64 << 10
	// maxTitleBytes is the longest note title write_note accepts.
	maxTitleBytes = 200
)

// Errors the notes tools report to the client as tool errors.
var (
	errInvalidID    = errors.New("invalid note id")
	errNoteNotFound = errors.New("note not found")
	errBodyTooLarge = errors.New("note body too large")
	errTitleTooLong = errors.New("note title too long")
)

var noteIDPattern = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// note is one stored note. Notes are values: the store never hands out a
// pointer into its map.
type note struct {
	ID    string `json:"id" jsonschema:"the note id"`
	Title string `json:"title" jsonschema:"the note title"`
	Body  string `json:"body" jsonschema:"the note body"`
}

// seedNotes are the notes every fresh notes server starts with.
func seedNotes() []note {
	return []note{
		{
			ID:    "welcome",
			Title: "Welcome to mcpgate",
			Body: "This is the notes demo server behind mcpgate dev.\n" +
				"Try list_notes, read_note and write_note through the gateway.\n",
		},
		{
			ID:    "runbook",
			Title: "On-call runbook",
			Body: "1. Check /readyz on the gateway.\n" +
				"2. Look for deny reasons in the decision log.\n" +
				"3. Page the owner of the failing upstream.\n",
		},
		{
			ID:    "release-checklist",
			Title: "Release checklist",
			Body:  "Run the policy tests, tag the release, update the changelog.\n",
		},
	}
}

// noteStore is a concurrency-safe in-memory map of notes. Its lock also
// serialises the onChange hook, so that resource registrations follow the
// order of the writes that caused them.
type noteStore struct {
	mu    sync.RWMutex
	notes map[string]note
	// onChange, if set, is called with the lock held after every write
	// (deleted false) or delete (deleted true).
	onChange func(n note, deleted bool)
}

func newNoteStore(seed []note) *noteStore {
	st := &noteStore{notes: make(map[string]note, len(seed))}
	for _, n := range seed {
		st.notes[n.ID] = n
	}
	return st
}

// list returns every note sorted by id.
func (st *noteStore) list() []note {
	st.mu.RLock()
	defer st.mu.RUnlock()
	out := make([]note, 0, len(st.notes))
	for _, n := range st.notes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b note) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (st *noteStore) get(id string) (note, error) {
	if err := checkNoteID(id); err != nil {
		return note{}, err
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	n, ok := st.notes[id]
	if !ok {
		return note{}, fmt.Errorf("%w: no note with id %q", errNoteNotFound, id)
	}
	return n, nil
}

// put creates or replaces n and reports whether it was created. An empty
// title defaults to the id.
func (st *noteStore) put(n note) (created bool, err error) {
	if err := checkNote(n); err != nil {
		return false, err
	}
	if n.Title == "" {
		n.Title = n.ID
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	_, existed := st.notes[n.ID]
	st.notes[n.ID] = n
	if st.onChange != nil {
		st.onChange(n, false)
	}
	return !existed, nil
}

func (st *noteStore) remove(id string) error {
	if err := checkNoteID(id); err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	n, ok := st.notes[id]
	if !ok {
		return fmt.Errorf("%w: no note with id %q", errNoteNotFound, id)
	}
	delete(st.notes, id)
	if st.onChange != nil {
		st.onChange(n, true)
	}
	return nil
}

func checkNote(n note) error {
	if err := checkNoteID(n.ID); err != nil {
		return err
	}
	if len(n.Title) > maxTitleBytes {
		return fmt.Errorf("%w: %d bytes, the limit is %d", errTitleTooLong, len(n.Title), maxTitleBytes)
	}
	if len(n.Body) > maxBodyBytes {
		return fmt.Errorf("%w: %d bytes, the limit is %d (64 KiB)", errBodyTooLarge, len(n.Body), maxBodyBytes)
	}
	return nil
}

func checkNoteID(id string) error {
	if len(id) > 64 {
		return fmt.Errorf("%w: %d bytes, must match %s", errInvalidID, len(id), noteIDPattern)
	}
	if !noteIDPattern.MatchString(id) {
		return fmt.Errorf("%w %q: must match %s", errInvalidID, id, noteIDPattern)
	}
	return nil
}
