package rollout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/follow"
	"github.com/termshift/termshift/restore"
	"github.com/termshift/termshift/rollout/store"
)

// FollowOptions configures Follow.
type FollowOptions struct {
	// From is the live release whose MySQL schemas are followed; only read.
	From string
	// Snapshot is the backup snapshot the release was restored from, whose
	// manifest holds the binary log position to start at; "" uses the
	// release's last sync, or the snapshot it was restored from.
	Snapshot string
	// Status receives the follower's status every Interval.
	Status   func(follow.Status)
	Interval time.Duration
	// SettleEvery is follow.Request.SettleEvery.
	SettleEvery time.Duration
}

// FollowReport is how a follow ended.
type FollowReport struct {
	Release string          `json:"release"`
	From    string          `json:"from"`
	Start   follow.Position `json:"start"`
	Resumed bool            `json:"resumed"`
	Status  follow.Status   `json:"status"`
	// Ended says why it stopped: interrupted, stopped by a cutover's
	// final sync, or the error.
	Ended string `json:"ended"`
}

// followPlan is what a follow was started with, under the lock.
type followPlan struct {
	key, token string
	schemas    map[string]string
	start      follow.Position
	resumed    bool
	// proven maps each target schema to where the binary log stood when
	// its data was written (follow.Request.TargetProven).
	proven map[string]follow.Position
}

// Follow applies the MySQL row events of opts.From (the live release) to
// release's schemas, from the binary log position its data stands at,
// until ctx ends or a cutover's final sync stops it through state. It
// holds the environment's lock only to start and to end (when free): a
// follow runs for days and must not block other commands, and the
// cutover that ends it catches up itself. Its position is committed on
// the server with the rows it applies, so a follow killed at any moment
// resumes exactly where it stopped.
func (o *Orchestrator) Follow(ctx context.Context, release string, opts FollowOptions) (*FollowReport, error) {
	var plan followPlan
	if err := o.Locked(ctx, func() error {
		var err error
		plan, err = o.startFollow(ctx, release, opts)
		return err
	}); err != nil {
		return nil, err
	}
	rep := &FollowReport{Release: release, From: opts.From, Start: plan.start, Resumed: plan.resumed}
	o.printf("following %s's MySQL binary log into %s from %s (%s)\n", opts.From, release, plan.start, o.P.Follower.Server())

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := make(chan string, 1)
	go func() {
		// The follower reads state, never writes it while it runs: a
		// command holding the lock sets Stop, or removes the record.
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
			}
			s, err := o.LoadState(runCtx)
			if err != nil {
				continue
			}
			rs := s.Releases[release]
			switch {
			case rs == nil || rs.Follow == nil || rs.Follow.Token != plan.token:
				stopped <- "its record in state was replaced"
			case rs.Follow.Stop:
				stopped <- "stopped by " + orNone(rs.Follow.Detail)
			default:
				continue
			}
			cancel()
			return
		}
	}()
	st, err := o.P.Follower.Run(runCtx, follow.Request{Key: plan.key, Schemas: plan.schemas, Start: plan.start, TargetProven: plan.proven, Report: opts.Status, Interval: opts.Interval, SettleEvery: opts.SettleEvery})
	rep.Status = st
	if err != nil {
		// A final sync that caught up ends the follower's position with
		// it: the follower was told to stop, not failed.
		if s, lerr := o.LoadState(context.WithoutCancel(ctx)); lerr == nil {
			if rs := s.Releases[release]; rs == nil || rs.Follow == nil || rs.Follow.Token != plan.token || rs.Follow.Stop {
				err = nil
				select {
				case stopped <- "its record in state was replaced":
				default:
				}
				if rs != nil && rs.Follow != nil && rs.Follow.Token == plan.token {
					rep.Ended = "stopped by " + orNone(rs.Follow.Detail)
				}
			}
		}
	}
	status := "stopped"
	switch {
	case err != nil:
		status, rep.Ended = "failed", err.Error()
	case ctx.Err() != nil:
		rep.Ended = "interrupted"
	case rep.Ended != "":
	default:
		select {
		case why := <-stopped:
			rep.Ended = why
		default:
			rep.Ended = "ended"
		}
	}
	detail := fmt.Sprintf("from %s: applied up to %s, %d transactions (%d row events) in this run; %s", opts.From, st.Applied, st.Transactions, st.Events, rep.Ended)
	o.endFollow(context.WithoutCancel(ctx), release, plan.token, status, detail)
	if err != nil {
		return rep, o.followError(release, opts.From, err)
	}
	return rep, nil
}

// followError adds what to do next to a follower's error.
func (o *Orchestrator) followError(release, from string, err error) error {
	var ddl *follow.DDLError
	switch {
	case errors.As(err, &ddl):
		return termshift.WithHint(fmt.Errorf("following %s into %s stopped: %w", from, release, err),
			"the schemas of "+from+" and "+release+" are no longer equal: the cutover's final sync copies everything (`termshift cutover "+release+" --final-sync`), or sync "+release+" again and follow anew")
	case errors.Is(err, follow.ErrPurged), errors.Is(err, follow.ErrNoRowBinlog):
		return fmt.Errorf("following %s into %s: %w", from, release, err)
	}
	return termshift.WithHint(fmt.Errorf("following %s into %s: %w", from, release, err), "run the same follow again: it resumes at the last position it applied")
}

// startFollow checks everything and records the follower, under the lock.
func (o *Orchestrator) startFollow(ctx context.Context, release string, opts FollowOptions) (followPlan, error) {
	var plan followPlan
	if _, err := o.spec(release); err != nil {
		return plan, err
	}
	if _, err := o.spec(opts.From); err != nil {
		return plan, fmt.Errorf("--from: %w", err)
	}
	if release == opts.From {
		return plan, fmt.Errorf("follow %s into itself: %w", termshift.Quote(release), termshift.ErrInvalid)
	}
	if o.P.Follower == nil {
		return plan, termshift.WithHint(fmt.Errorf("follow needs servers.mysql with a TCP DSN (mariadb-binlog reads the binary log over TCP): %w", termshift.ErrInvalid), "set servers.mysql.dsn to user:password@tcp(host:port)/")
	}
	s, err := o.LoadState(ctx)
	if err != nil {
		return plan, err
	}
	refuse := func(err error) (followPlan, error) {
		o.journal(ctx, release, "follow", "refused", err.Error())
		return plan, err
	}
	if err := o.refuseProtected(s, release, "follow into"); err != nil {
		return refuse(err)
	}
	rs, from := s.Releases[release], s.Releases[opts.From]
	if rs == nil || !rs.StepDone("carve") {
		return plan, termshift.WithHint(fmt.Errorf("release %s is not carved: %w", termshift.Quote(release), termshift.ErrNotFound), "run `termshift upgrade "+release+"` (or carve and restore) first")
	}
	if from == nil {
		return plan, fmt.Errorf("release %s has no namespaces to follow: %w", termshift.Quote(opts.From), termshift.ErrNotFound)
	}
	plan.schemas = map[string]string{}
	for _, ns := range rs.Namespaces {
		if ns.Service != termshift.MySQL {
			continue
		}
		src := from.Namespace(ns.Service, ns.Logical)
		if src == nil {
			return plan, fmt.Errorf("release %s has no mysql namespace for %s: %w", termshift.Quote(opts.From), termshift.Quote(ns.Logical), termshift.ErrNotFound)
		}
		if ns.Status != store.NSRestored && ns.Status != store.NSScrubbed {
			return refuse(termshift.WithHint(fmt.Errorf("refusing to follow into %s: %s holds no restored or synced data (it is %s): %w", termshift.Quote(release), ns.Namespace, ns.Status, termshift.ErrRefused),
				"restore it (`termshift upgrade "+release+" --snapshot ID`) or sync it (`termshift sync "+release+" --from "+opts.From+"`) first"))
		}
		if ns.Status == store.NSScrubbed {
			return refuse(fmt.Errorf("refusing to follow into %s: %s was scrubbed: its rows differ from %s's, and row events would not apply: %w", termshift.Quote(release), ns.Namespace, opts.From, termshift.ErrRefused))
		}
		plan.schemas[src.Name] = ns.Name
	}
	basis := followBasis(rs)
	if len(plan.schemas) == 0 {
		return plan, fmt.Errorf("release %s has no MySQL namespaces to follow: %w", termshift.Quote(release), termshift.ErrNotFound)
	}
	if err := o.P.Follower.CheckSchemas(ctx, plan.schemas); err != nil {
		return refuse(termshift.WithHint(fmt.Errorf("refusing to follow into %s: its MySQL schemas are not %s's (migrated?): %w: %w", termshift.Quote(release), opts.From, err, termshift.ErrRefused),
			"follow keeps a release at the live release's schema version; migrations run in the cutover's window after the last event: restore or sync "+release+" again, then follow"))
	}
	if f := rs.Follow; f != nil && f.Status == "following" && !f.Stop {
		if alive(f) {
			return plan, fmt.Errorf("release %s is already followed by pid %d on %s since %s: %w", termshift.Quote(release), f.PID, f.Host, f.Since.Format(time.RFC3339), termshift.ErrLocked)
		}
		o.journal(ctx, release, "follow", "forced", fmt.Sprintf("took over the follower of pid %d on %s (gone)", f.PID, f.Host))
	}
	plan.key = o.Env.Name + "/" + release
	// The position recorded on the server is kept only for the data it was
	// applied to: a release restored or synced again starts anew.
	rec, found, err := o.P.Follower.Recorded(ctx, plan.key)
	if err != nil {
		return plan, err
	}
	var atData bool
	if found && rs.Follow != nil && rs.Follow.From == opts.From && rs.Follow.Basis == basis && opts.Snapshot == "" {
		plan.start, plan.resumed, atData = rec.Position, true, rs.Follow.StartsAtData
	} else {
		if found {
			if err := o.P.Follower.Forget(ctx, plan.key); err != nil {
				return plan, err
			}
		}
		if plan.start, atData, err = o.followStart(ctx, rs, opts.Snapshot); err != nil {
			return refuse(err)
		}
	}
	plan.proven = targetProven(rs)
	if err := o.P.Follower.Check(ctx, plan.start); err != nil {
		return refuse(err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	plan.token = hex.EncodeToString(b)
	host, _ := os.Hostname()
	rs.Follow = &store.FollowState{From: opts.From, Key: plan.key, Token: plan.token, Host: host, PID: os.Getpid(), Since: o.Now(),
		Start: storePos(plan.start), Status: "following", Basis: basis, StartsAtData: atData}
	if err := o.SaveState(ctx, s); err != nil {
		return plan, err
	}
	how := "starts"
	if plan.resumed {
		how = "resumes"
	}
	o.journal(ctx, release, "follow", "started", fmt.Sprintf("from %s: %s at %s on %s", opts.From, how, plan.start, o.P.Follower.Server()))
	return plan, nil
}

// binlogHead is where the MySQL server's binary log stands, when a
// follower can read it; nil otherwise (no binary log, no TCP DSN).
func (o *Orchestrator) binlogHead(ctx context.Context) *store.BinlogPos {
	if o.P.Follower == nil {
		return nil
	}
	p, err := o.P.Follower.Head(ctx)
	if err != nil {
		o.Logger.Debug("no binary log position", "err", err)
		return nil
	}
	at := storePos(p)
	return &at
}

// storePos and followPos carry a binary log position between state and
// the follower.
func storePos(p follow.Position) store.BinlogPos {
	return store.BinlogPos{File: p.File, Pos: p.Pos, GTID: p.GTID}
}

func followPos(b store.BinlogPos) follow.Position {
	return follow.Position{File: b.File, Pos: b.Pos, GTID: b.GTID}
}

// followBasis names the data a release's MySQL namespaces hold: when it
// was proven (restored or synced). A follower's position applies to that
// data only.
func followBasis(rs *store.ReleaseState) string {
	var basis []string
	for _, ns := range rs.Namespaces {
		if ns.Service == termshift.MySQL && ns.Proof != nil {
			basis = append(basis, ns.Name+"@"+ns.Proof.At.UTC().Format(time.RFC3339Nano))
		}
	}
	sort.Strings(basis)
	return strings.Join(basis, ",")
}

// targetProven maps each of a release's MySQL schemas to where the binary
// log stood when its data was written (the restore's or sync's start).
func targetProven(rs *store.ReleaseState) map[string]follow.Position {
	out := map[string]follow.Position{}
	for _, ns := range rs.Namespaces {
		if ns.Service == termshift.MySQL && ns.Proof != nil && ns.Proof.Binlog != nil {
			out[ns.Name] = followPos(*ns.Proof.Binlog)
		}
	}
	return out
}

// dataOrigin says where every MySQL namespace of a release got its data:
// synced is true when each was last synced (or caught up), snapshot names
// the snapshot each was restored from; neither when they differ.
func dataOrigin(rs *store.ReleaseState) (synced bool, snapshot string) {
	var sources []string
	for _, ns := range rs.Namespaces {
		if ns.Service != termshift.MySQL {
			continue
		}
		if ns.Proof == nil {
			return false, ""
		}
		sources = append(sources, ns.Proof.Source)
	}
	if len(sources) == 0 {
		return false, ""
	}
	synced = true
	for _, src := range sources {
		synced = synced && strings.HasPrefix(src, syncSourcePrefix)
	}
	if synced {
		return true, ""
	}
	for _, src := range sources {
		if src != sources[0] {
			return false, ""
		}
	}
	return false, sources[0]
}

// followStart is the binary log position a release's MySQL data stands at:
// the given snapshot's, else the last sync's, else the snapshot it was
// restored from. atData says the position is the one the data was proven
// at (not a snapshot named for data of another night).
func (o *Orchestrator) followStart(ctx context.Context, rs *store.ReleaseState, snapshot string) (pos follow.Position, atData bool, err error) {
	synced, restored := dataOrigin(rs)
	if snapshot == "" && rs.Binlog != nil && rs.StepDone("sync") && (synced || rs.Snapshot == "") {
		return followPos(*rs.Binlog), synced, nil
	}
	if snapshot == "" {
		snapshot = rs.Snapshot
	}
	if snapshot == "" {
		return follow.Position{}, false, termshift.WithHint(fmt.Errorf("release %s was neither synced nor restored from a snapshot: no binary log position to start at: %w", termshift.Quote(rs.Name), termshift.ErrNotFound),
			"name the snapshot it holds with --snapshot ID")
	}
	src, snap, _, err := OpenBackup(ctx, BackupRef{Source: o.Env.Backup.Source, S3: o.Env.Backup.S3, Snapshot: snapshot, BaseDir: o.Env.Dir})
	if err != nil {
		return follow.Position{}, false, fmt.Errorf("snapshot %s: %w", termshift.Quote(snapshot), err)
	}
	m, err := restore.ReadManifest(ctx, src)
	if err != nil {
		return follow.Position{}, false, fmt.Errorf("snapshot %s: %w", termshift.Quote(snap.ID), err)
	}
	if m == nil || m.MySQLBinlog == nil || m.MySQLBinlog.File == "" {
		return follow.Position{}, false, termshift.WithHint(fmt.Errorf("snapshot %s records no binary log position (its manifest has none): %w", termshift.Quote(snap.ID), termshift.ErrNotFound),
			"take backups with `termshift backup` from a server with log_bin, or sync the release (`termshift sync`) and follow after it")
	}
	return follow.Position{File: m.MySQLBinlog.File, Pos: m.MySQLBinlog.Position, GTID: m.MySQLBinlog.GTID}, restored == snap.ID, nil
}

// refuseFollowed refuses to replace the data of a release whose follower
// runs: it would apply rows into the tables being replaced.
func refuseFollowed(rs *store.ReleaseState, action string) error {
	f := rs.Follow
	if f == nil || f.Status != "following" || f.Stop || !alive(f) {
		return nil
	}
	return termshift.WithHint(fmt.Errorf("release %s is being followed (pid %d on %s, `termshift follow`): refusing to %s it: %w", termshift.Quote(rs.Name), f.PID, f.Host, action, termshift.ErrLocked),
		"stop the follower (Ctrl-C or SIGTERM) first; a final sync (`termshift cutover "+rs.Name+" --final-sync`) stops it itself")
}

// alive reports a follower whose process runs on this host (one on
// another host is assumed alive).
func alive(f *store.FollowState) bool {
	host, _ := os.Hostname()
	if f.Host != host {
		return true
	}
	err := syscall.Kill(f.PID, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// endFollow records how a follow ended when the lock is free; when a
// command holds it (the cutover that stopped the follower), that command
// keeps the record.
func (o *Orchestrator) endFollow(ctx context.Context, release, token, status, detail string) {
	o.journal(ctx, release, "follow", status, detail)
	l, stale, err := o.Store.Acquire(ctx, o.Command)
	if err != nil {
		return
	}
	_ = stale
	defer func() { _ = l.Release(ctx) }()
	s, err := o.LoadState(ctx)
	if err != nil {
		return
	}
	rs := s.Releases[release]
	if rs == nil || rs.Follow == nil || rs.Follow.Token != token || rs.Follow.Status != "following" {
		return
	}
	rs.Follow.Status, rs.Follow.Detail, rs.Follow.EndedAt = status, detail, o.Now()
	_ = o.SaveState(ctx, s)
}

// finalSync is the sync of a final sync: when release has been following
// live's binary log, its MySQL schemas are caught up (the window then
// lasts seconds, whatever their size) and only the other services are
// copied in full; otherwise, or when the catch-up cannot be used, the full
// sync of every service, with the reason in the report's notes.
func (o *Orchestrator) finalSync(ctx context.Context, release, live string, opts CutoverOptions) (*SyncReport, error) {
	sopts := SyncOptions{From: live, Threads: opts.Threads, Progress: opts.Progress, InWindow: true}
	s, err := o.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	rs := s.Releases[release]
	if rs == nil || rs.Follow == nil || rs.Follow.From != live || o.P.Follower == nil {
		return o.Sync(ctx, release, sopts)
	}
	if rs.Follow.Basis != followBasis(rs) {
		// Restored or synced again since it followed: its position is of
		// other data.
		note := fmt.Sprintf("MySQL: %s was restored or synced again since it followed %s: the full sync copies everything", release, live)
		o.printf("%s\n", note)
		o.dropFollow(ctx, release, "stopped", note)
		rep, err := o.Sync(ctx, release, sopts)
		if rep != nil {
			rep.Notes = append([]string{note}, rep.Notes...)
		}
		return rep, err
	}
	cu, err := o.catchUp(ctx, s, release, live)
	if err != nil {
		note := fmt.Sprintf("MySQL: the catch-up from %s's binary log cannot be used (%v): the full sync copies everything instead", live, err)
		o.printf("%s\n", note)
		o.journal(ctx, release, "catch-up", "failed", note)
		o.dropFollow(ctx, release, "failed", err.Error())
		rep, serr := o.Sync(ctx, release, sopts)
		if rep != nil {
			rep.Notes = append([]string{note}, rep.Notes...)
		}
		return rep, serr
	}
	sopts.Skip = []termshift.Service{termshift.MySQL}
	rep, err := o.Sync(ctx, release, sopts)
	if rep == nil {
		return rep, err
	}
	rep.Namespaces = append(rep.Namespaces, cu.results...)
	sort.Slice(rep.Namespaces, func(i, j int) bool {
		return rep.Namespaces[i].Namespace.String() < rep.Namespaces[j].Namespace.String()
	})
	rep.Notes = append([]string{cu.note, "MongoDB and RabbitMQ keep the full copy: FerretDB has no change stream or oplog to follow"}, rep.Notes...)
	for _, r := range cu.results {
		for _, obj := range r.Objects {
			rep.Rows += obj.Loaded
		}
	}
	if rep.Seconds > 0 {
		rep.RowsPerSecond = float64(rep.Rows+rep.Docs) / rep.Seconds
	}
	rep.Proven = rep.Proven && err == nil
	if err != nil {
		return rep, err
	}
	// The catch-up is over: the release's MySQL namespaces hold live's
	// data, proven; the follower's position is of no more use.
	fresh, lerr := o.LoadState(ctx)
	if lerr != nil {
		return rep, lerr
	}
	frs := fresh.Releases[release]
	now := o.Now()
	// The data now stands at the position the catch-up stopped at: a
	// later follow starts there, and the writes logged before it made
	// this data.
	stop := storePos(cu.at)
	at := &stop
	for _, r := range cu.results {
		if ns := frs.Namespace(termshift.MySQL, r.Namespace.Logical); ns != nil {
			ns.Status, ns.Error = store.NSRestored, ""
			ns.Proof = syncProof(r, live+" (catch-up from the binary log)", now, rep.Started)
			ns.Proof.Binlog = at
		}
	}
	frs.Binlog = at
	if frs.Follow != nil {
		frs.Follow.Status, frs.Follow.Detail, frs.Follow.EndedAt = "caught-up", cu.note, now
	}
	if err := o.SaveState(ctx, fresh); err != nil {
		return rep, err
	}
	if err := o.P.Follower.Forget(ctx, rs.Follow.Key); err != nil {
		o.Logger.Warn("forget the follower's position", "err", err)
	}
	return rep, nil
}

type caughtUp struct {
	results []SyncResult
	note    string
	at      follow.Position // where live's writes stopped, applied
}

// catchUp applies live's binary log to release's MySQL schemas up to the
// position at which the window stopped its writes, stops the background
// follower through state, and proves each table (counts and CHECKSUM
// TABLE on both sides), then that live took no write while it was proven.
// When the follower started where the data was proven and saw every write
// of both sides, only the tables it saw changed are read: the others hold
// what their restore or sync proved, on both sides (provenScope).
func (o *Orchestrator) catchUp(ctx context.Context, s *store.State, release, live string) (*caughtUp, error) {
	t0 := o.Now()
	rs, from := s.Releases[release], s.Releases[live]
	f := o.P.Follower
	schemas := map[string]string{}
	dst := map[string]*store.NamespaceState{}
	for _, ns := range rs.Namespaces {
		if ns.Service != termshift.MySQL {
			continue
		}
		src := from.Namespace(ns.Service, ns.Logical)
		if src == nil {
			return nil, fmt.Errorf("release %s has no mysql namespace for %s: %w", termshift.Quote(live), termshift.Quote(ns.Logical), termshift.ErrNotFound)
		}
		schemas[src.Name] = ns.Name
		dst[src.Name] = ns
	}
	key := rs.Follow.Key
	rec, found, err := f.Recorded(ctx, key)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("the follower of %s recorded no position on %s", termshift.Quote(release), f.Server())
	}
	if err := f.Check(ctx, rec.Position); err != nil {
		return nil, err
	}
	// The background follower stops: it reads state every second. Until
	// it does, both apply under the same position record, which lets
	// only one apply each transaction.
	rs.Follow.Stop, rs.Follow.Detail = true, "the final sync of "+termshift.Quote(o.Command)
	if err := o.SaveState(ctx, s); err != nil {
		return nil, err
	}
	stopAt, err := f.Head(ctx)
	if err != nil {
		return nil, err
	}
	o.printf("catching up %s's MySQL from %s to %s (where the window stopped its writes) ...\n", live, rec.Position, stopAt)
	proven := targetProven(rs)
	st, err := f.Run(ctx, follow.Request{Key: key, Schemas: schemas, Start: rec.Position, Until: &stopAt, TargetProven: proven})
	if err == nil && st.Applied.Compare(stopAt) < 0 {
		err = fmt.Errorf("the catch-up stopped at %s, short of %s: %w", st.Applied, stopAt, context.Cause(ctx))
	}
	if err != nil {
		return nil, err
	}
	applied := rec.Position
	tApplied := o.Now()
	only, scope, err := o.provenScope(ctx, rs, key, schemas)
	if err != nil {
		return nil, err
	}
	proofs, err := f.Prove(ctx, schemas, only)
	if err != nil {
		return nil, err
	}
	// Live took no write while it was proven: catching up again applies
	// nothing. When the binary log has not moved at all, nobody wrote,
	// and there is nothing to read (a follower's run sets itself up for
	// most of 0.1 s before it reads).
	again, err := f.Head(ctx)
	if err != nil {
		return nil, err
	}
	if again.Compare(st.Applied) > 0 {
		st2, err := f.Run(ctx, follow.Request{Key: key, Schemas: schemas, Start: rec.Position, Until: &again, TargetProven: proven})
		if err == nil && st2.Applied.Compare(again) < 0 {
			err = fmt.Errorf("the catch-up stopped at %s, short of %s: %w", st2.Applied, again, context.Cause(ctx))
		}
		if err != nil {
			return nil, err
		}
		if st2.Transactions > 0 {
			return nil, fmt.Errorf("%s took %d transactions while it was proven (after %s): %w", live, st2.Transactions, stopAt, ErrSourceChanged)
		}
	}
	if only != nil {
		// The next release itself may have written meanwhile, and a table
		// its last proof does not name was never proven: those are read
		// too.
		late, err := f.Changed(ctx, key, schemas)
		if err != nil {
			return nil, err
		}
		proofs, err = o.proveMore(ctx, schemas, proofs, func(p follow.TableProof) bool {
			_, proven := dst[p.Schema].Proof.Objects[p.Table]
			return late.Has(p.Schema, p.Table) || !proven
		})
		if err != nil {
			return nil, err
		}
	}
	byNS := map[string]*SyncResult{}
	read, unchanged, byKey := 0, 0, 0
	var keys int64
	for _, p := range proofs {
		r := byNS[p.Schema]
		if r == nil {
			r = &SyncResult{Namespace: dst[p.Schema].Namespace, From: p.Schema, Status: "caught up",
				Note: fmt.Sprintf("caught up from the binary log: %s to %s, %d transactions (%d row events) in the window", applied, st.Applied, st.Transactions, st.Events)}
			byNS[p.Schema] = r
		}
		if p.Unchanged {
			unchanged++
			r.Objects = append(r.Objects, unchangedObject(dst[p.Schema], p.Table))
			continue
		}
		if p.ByKey {
			byKey++
			keys += p.Keys
			r.Objects = append(r.Objects, SyncObject{Name: p.Table, Snapshot: p.Rows, Loaded: p.TargetRows, SourceHash: p.Checksum, TargetHash: p.TargetChecksum, OK: p.OK(),
				ByKey: fmt.Sprintf("%d rows changed since the last proof compared on both sides", p.Keys)})
			continue
		}
		read++
		r.Objects = append(r.Objects, SyncObject{Name: p.Table, Snapshot: p.Rows, Loaded: p.TargetRows, SourceHash: "checksum:" + p.Checksum, TargetHash: "checksum:" + p.TargetChecksum, OK: p.OK()})
	}
	var out []SyncResult
	for _, r := range byNS {
		n := 0
		for _, obj := range r.Objects {
			if obj.Unchanged != "" {
				n++
			}
		}
		if n > 0 {
			r.Note += fmt.Sprintf("; %d of %d tables not read: no event on either side since %s", n, len(r.Objects), proofName(dst[r.From].Proof))
		}
		out = append(out, *r)
	}
	var bad []string
	for _, r := range out {
		for _, obj := range r.Objects {
			if !obj.OK {
				bad = append(bad, fmt.Sprintf("%s.%s: %d rows in %s, %d in %s, checksum %s/%s", r.From, obj.Name, obj.Snapshot, live, obj.Loaded, release, obj.SourceHash, obj.TargetHash))
			}
		}
	}
	for name := range schemas {
		if _, ok := byNS[name]; !ok {
			ns := dst[name]
			out = append(out, SyncResult{Namespace: ns.Namespace, From: name, Status: "caught up", Note: "no tables"})
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("after the catch-up the proof does not hold: %s: %w", strings.Join(bad, "; "), termshift.ErrVerifyFailed)
	}
	how := fmt.Sprintf("every table read on both sides (%d), %s", read, scope)
	if only != nil {
		how = tables(read) + " changed since the data was proven read on both sides, "
		if byKey > 0 {
			how += fmt.Sprintf("%s compared by the %d rows changed since they were last proven equal, ", tables(byKey), keys)
		}
		how += fmt.Sprintf("%d unchanged on both sides not read", unchanged)
	}
	note := fmt.Sprintf("MySQL: caught up from %s's binary log in %s (%d transactions, %d row events, up to %s; proof %s: %s), not copied in full",
		live, o.Now().Sub(t0).Round(time.Millisecond), st.Transactions, st.Events, st.Applied, o.Now().Sub(tApplied).Round(time.Millisecond), how)
	o.journal(ctx, release, "catch-up", "done", note)
	return &caughtUp{results: out, note: note, at: stopAt}, nil
}

// provenScope says which tables the catch-up's proof must read: only the
// changed ones (a tracked follow.Changes) when every write to both sides
// since the data was proven is known, every table (nil) otherwise, with
// the reason in words.
func (o *Orchestrator) provenScope(ctx context.Context, rs *store.ReleaseState, key string, schemas map[string]string) (*follow.Changes, string, error) {
	if !rs.Follow.StartsAtData {
		return nil, "since the follower did not start at the position its data was proven at", nil
	}
	for _, ns := range rs.Namespaces {
		switch {
		case ns.Service != termshift.MySQL:
		case ns.Proof == nil:
			return nil, "since " + ns.Namespace.String() + " has no proof", nil
		case ns.Proof.Unproven != "":
			return nil, "since " + ns.Namespace.String() + " was restored from a backup not proven complete", nil
		case ns.Proof.Binlog == nil:
			return nil, "since the restore or sync of " + ns.Namespace.String() + " recorded no binary log position", nil
		}
	}
	ch, err := o.P.Follower.Changed(ctx, key, schemas)
	if err != nil {
		return nil, "", err
	}
	if !ch.Tracked {
		return nil, "since " + ch.Why, nil
	}
	return ch, "", nil
}

// tables is "1 table" or "N tables".
func tables(n int) string {
	if n == 1 {
		return "1 table"
	}
	return fmt.Sprintf("%d tables", n)
}

// proveMore reads the tables a proof left unread that need says must be.
func (o *Orchestrator) proveMore(ctx context.Context, schemas map[string]string, proofs []follow.TableProof, need func(follow.TableProof) bool) ([]follow.TableProof, error) {
	more := &follow.Changes{Tracked: true, Tables: map[string]map[string]bool{}}
	for _, p := range proofs {
		if p.Unchanged && need(p) {
			if more.Tables[p.Schema] == nil {
				more.Tables[p.Schema] = map[string]bool{}
			}
			more.Tables[p.Schema][p.Table] = true
		}
	}
	if len(more.Tables) == 0 {
		return proofs, nil
	}
	read, err := o.P.Follower.Prove(ctx, schemas, more)
	if err != nil {
		return nil, err
	}
	byTable := map[[2]string]follow.TableProof{}
	for _, p := range read {
		if !p.Unchanged {
			byTable[[2]string{p.Schema, p.Table}] = p
		}
	}
	for i, p := range proofs {
		if q, ok := byTable[[2]string{p.Schema, p.Table}]; ok {
			proofs[i] = q
		}
	}
	return proofs, nil
}

// unchangedObject is a table the catch-up did not read: its count and
// hash are those of the namespace's last proof.
func unchangedObject(ns *store.NamespaceState, table string) SyncObject {
	n, h := ns.Proof.Objects[table], ns.Proof.Hashes[table]
	return SyncObject{Name: table, Snapshot: n, Loaded: n, SourceHash: h, TargetHash: h, OK: true,
		Unchanged: "no event on either side since " + proofName(ns.Proof)}
}

// proofName names a proof in a sentence.
func proofName(p *store.Proof) string {
	if strings.HasPrefix(p.Source, syncSourcePrefix) {
		return "the " + p.Source
	}
	return "the restore of snapshot " + p.Source
}

// dropFollow ends a follower whose catch-up cannot be used: its record
// says why, its position is forgotten (the full sync replaces the data it
// was applied to).
func (o *Orchestrator) dropFollow(ctx context.Context, release, status, detail string) {
	cctx := context.WithoutCancel(ctx)
	s, err := o.LoadState(cctx)
	if err != nil {
		return
	}
	rs := s.Releases[release]
	if rs == nil || rs.Follow == nil {
		return
	}
	rs.Follow.Stop, rs.Follow.Status, rs.Follow.Detail, rs.Follow.EndedAt = true, status, detail, o.Now()
	if err := o.SaveState(cctx, s); err != nil {
		o.Logger.Warn("record the follower's end", "err", err)
	}
	if err := o.P.Follower.Forget(cctx, rs.Follow.Key); err != nil {
		o.Logger.Warn("forget the follower's position", "err", err)
	}
}
