package forkjournal

import (
	"context"
	"encoding/json"
)

// WriteResult is the answer to a write (Register, Fork, Unfork, Retire).
type WriteResult struct {
	// Seq is the event's sequence number in the journal.
	Seq uint64 `json:"seq"`
	// Noop: an Unfork of a fork a reconciler had already recorded as lost;
	// Seq is that event's.
	Noop bool `json:"noop"`
	// Replayed: the request_id had been applied already (by an earlier
	// attempt); Seq is the original event's and nothing was appended.
	Replayed bool `json:"replayed"`
	// RequestID is the request_id the write carried.
	RequestID string `json:"-"`
}

// State of a template.
const (
	StateActive  = "active"
	StateRetired = "retired"
)

// TemplateCount is one template of Counts.
type TemplateCount struct {
	Template string `json:"template"`
	Source   string `json:"source"`
	Name     string `json:"name"`
	State    string `json:"state"` // StateActive or StateRetired
	Forks    uint64 `json:"forks"`
}

// Counts is every template's live fork count as of Seq.
type Counts struct {
	Seq       uint64          `json:"seq"`
	Templates []TemplateCount `json:"templates"` // sorted by Template
}

// Template is one template in detail as of Seq.
type Template struct {
	Template  string   `json:"template"`
	Source    string   `json:"source"`
	Name      string   `json:"name"`
	State     string   `json:"state"`
	Forks     uint64   `json:"forks"`
	LiveForks []string `json:"live_forks"` // sorted
	LastSeq   uint64   `json:"last_seq"`   // the template's newest event
	Seq       uint64   `json:"seq"`
}

// Correction is an event a reconcile recorded (or, dry run, would record).
type Correction struct {
	Type     string `json:"type"`
	Template string `json:"template"`
	Fork     string `json:"fork"`
	Reason   string `json:"reason"`
	Evidence string `json:"evidence"`
}

// PendingFork is a live fork with no directory yet, recorded within the
// daemon's --fork-grace: the VM manager may still be making it, so the
// reconcile kept it live and recorded nothing.
type PendingFork struct {
	Fork       string  `json:"fork"`
	Template   string  `json:"template"`
	Seq        uint64  `json:"seq"`         // its fork event; 0 when the daemon's look back was cut short
	AgeSeconds float64 `json:"age_seconds"` // 0 when Seq is 0: not looked up
}

// ReconcileReport is the answer to Reconcile (forkjournal reconcile --json).
// The fields a client usually needs are decoded; Raw holds the whole reply
// (kept, unreadable, dangling, holders, ...).
type ReconcileReport struct {
	BasedOnSeq     uint64          `json:"based_on_seq"`
	Scanned        uint64          `json:"scanned"`
	DryRun         bool            `json:"dry_run"`
	Corrections    []Correction    `json:"corrections"`
	Swept          []string        `json:"swept"` // templates retired by the sweep
	Pending        []PendingFork   `json:"pending"`
	Committed      bool            `json:"committed"`
	FirstSeq       uint64          `json:"first_seq"`
	LastSeq        uint64          `json:"last_seq"`
	NeedsAttention bool            `json:"needs_attention"`
	Raw            json.RawMessage `json:"-"`
}

// Stats are the daemon's counters since it started.
type Stats struct {
	Events        uint64  `json:"events"`
	HeadSeq       uint64  `json:"head_seq"`
	Requests      uint64  `json:"requests"`
	Appended      uint64  `json:"appended"`
	Commits       uint64  `json:"commits"`
	AverageBatch  float64 `json:"average_batch"`
	Snapshots     uint64  `json:"snapshots"`
	Reconciles    uint64  `json:"reconciles"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	// Ship is the shipper's state when the daemon runs with --ship; nil
	// otherwise.
	Ship *ShipState `json:"ship"`
}

// ShipState is how far the daemon has shipped its journal to the fleet
// stream (docs/protocol.md, "Shipping").
type ShipState struct {
	Host       string  `json:"host"`
	Connected  bool    `json:"connected"`
	Halted     bool    `json:"halted"`
	ShippedSeq uint64  `json:"shipped_seq"`
	HeadSeq    uint64  `json:"head_seq"`
	LagEvents  uint64  `json:"lag_events"`
	LagSeconds float64 `json:"lag_seconds"`
	Published  uint64  `json:"published"`
	Duplicates uint64  `json:"duplicates"`
	Conflicts  uint64  `json:"conflicts"`
	Failures   uint64  `json:"failures"`
	// LastError is the last failure's text; empty when none.
	LastError string `json:"last_error"`
}

func (c *Client) write(ctx context.Context, op string, fields map[string]interface{}) (WriteResult, error) {
	if ctx == nil {
		return WriteResult{}, &callError{op: op, err: errNilContext, notApplied: true}
	}
	id, err := requestID(ctx)
	if err != nil {
		return WriteResult{}, err
	}
	fields["request_id"] = id
	var r WriteResult
	err = c.do(ctx, op, fields, &r)
	r.RequestID = id
	return r, err
}

// Register records a template (made from the instance source). name may be
// empty. Refusals: ErrAlreadyExists, ErrInvalidID, ErrBadRequest (a bad
// name, a request_id reused for another request).
func (c *Client) Register(ctx context.Context, templateID, source, name string) (WriteResult, error) {
	f := map[string]interface{}{"template": templateID, "source": source}
	if name != "" {
		f["name"] = name
	}
	return c.write(ctx, "register", f)
}

// Fork records a fork of templateID; call it before creating the fork.
// Refusals: ErrNotFound, ErrRetired, ErrAlreadyLive, ErrInvalidID,
// ErrBadRequest (a request_id reused for another request).
func (c *Client) Fork(ctx context.Context, templateID, forkID string) (WriteResult, error) {
	return c.write(ctx, "fork", map[string]interface{}{"template": templateID, "fork": forkID})
}

// Unfork records that a fork is gone; call it after its data is removed.
// Refusals: ErrNotFound (unknown template or fork not live), ErrInvalidID,
// ErrBadRequest (a request_id reused for another request); Noop in the
// result when a reconcile had already recorded the fork as lost.
func (c *Client) Unfork(ctx context.Context, templateID, forkID string) (WriteResult, error) {
	return c.write(ctx, "unfork", map[string]interface{}{"template": templateID, "fork": forkID})
}

// Retire records a template's retirement; call it before removing its
// files. Refusals: ErrInUse while forks live, ErrRetired, ErrNotFound,
// ErrInvalidID, ErrBadRequest (a request_id reused for another request).
func (c *Client) Retire(ctx context.Context, templateID string) (WriteResult, error) {
	return c.write(ctx, "retire", map[string]interface{}{"template": templateID})
}

// Counts returns every template with its live fork count.
func (c *Client) Counts(ctx context.Context) (Counts, error) {
	var r Counts
	err := c.do(ctx, "counts", nil, &r)
	return r, err
}

// Template returns one template (ErrNotFound if it was never registered).
func (c *Client) Template(ctx context.Context, id string) (Template, error) {
	var r Template
	err := c.do(ctx, "template", map[string]interface{}{"template": id}, &r)
	return r, err
}

// Reconcile reconciles the journal with the daemon's --data-root now
// (ErrBadRequest when it has none); dryRun records nothing.
func (c *Client) Reconcile(ctx context.Context, dryRun bool) (ReconcileReport, error) {
	var raw json.RawMessage
	if err := c.do(ctx, "reconcile", map[string]interface{}{"dry_run": dryRun}, &raw); err != nil {
		return ReconcileReport{}, err
	}
	var r ReconcileReport
	if err := json.Unmarshal(raw, &r); err != nil {
		return ReconcileReport{}, err
	}
	r.Raw = raw
	return r, nil
}

// Snapshot makes the daemon write a snapshot; it returns its seq.
func (c *Client) Snapshot(ctx context.Context) (uint64, error) {
	var r struct {
		Seq uint64 `json:"seq"`
	}
	err := c.do(ctx, "snapshot", nil, &r)
	return r.Seq, err
}

// Stats returns the daemon's counters.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var r Stats
	err := c.do(ctx, "stats", nil, &r)
	return r, err
}

// Ping checks the daemon answers; it returns the daemon's version.
func (c *Client) Ping(ctx context.Context) (string, error) {
	var r struct {
		Version string `json:"version"`
	}
	err := c.do(ctx, "ping", nil, &r)
	return r.Version, err
}
