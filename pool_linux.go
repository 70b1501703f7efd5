package namespace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A pool's children.
//
// A pool child is started like the child of Run, with the job role
// "prewarm": it authenticates, performs the set-up in its fresh namespaces,
// lets the program's initialisation run up to Init, reports "idle" and waits
// there, with no time limit, for a second job frame carrying the function,
// its arguments or input. So a Run on a pool only hands a job over and waits
// for the function's result. Each child runs one job and exits, like any
// Run child: namespaces are never reused.
//
// Every pool child is started from a goroutine locked to its OS thread
// until the child has exited, so Pdeathsig kills it if the parent dies; it
// also exits when its socket to the parent reaches end of file.

// A Pool keeps children ready to run registered functions in the
// namespaces of a Namespace: each started ahead, in fresh namespaces of its
// own, with the set-up done and the program initialised up to Init, so
// that a Run only hands the job over. Each child runs one job and is
// replaced in the background by a new one; no namespace is ever reused.
// Namespace.Pool makes a Pool; Pool.Run and Task.Run (a Pool is a Runner)
// run on it; Close ends it. A Pool is safe for concurrent use.
//
// A pooled Run whose function returned nil returns as soon as that result
// arrives: the child's exit, which follows at once, and with it the end of
// its namespaces (and of any process it left in a PID namespace) are
// awaited in the background, not by Run; Close waits for them. Any other
// outcome (an error, a panic, a signal) is reported once the child has
// exited, with its exit status, as without a pool.
//
// A Run that finds no child ready runs one cold, as Namespace.Run does. If
// children cannot be started, Runs run cold and report the error
// themselves, and the pool tries again later. Each pool child holds an OS
// thread of the parent while it lives. Pool children die with the parent
// process (as every Run child does), and when an unreachable Pool is
// garbage collected.
type Pool struct {
	n *Namespace
	p *pool
}

// Pool starts size children for Run and Task.Run in the background and
// returns the Pool that serves them, without waiting for the children to
// be ready. The Pool honours the options that Run honours (see each
// option); it returns an error wrapping ErrUnsupported that names an
// option it cannot honour (WithMinimalInit), the problems of Validate
// (ErrInvalid), or ErrInvalid if size is not positive. Call Close when the
// Pool is no longer needed.
func (n *Namespace) Pool(size int) (*Pool, error) {
	guardChild()
	err := n.check(verbPool)
	if size < 1 {
		err = errors.Join(err, invalidf("Pool(%d): the pool size must be positive", size))
	}
	if err == nil {
		// Each child gets a cgroup of its own as it starts: say now,
		// not at the first Run, if the host cannot give them.
		_, err = n.cgroupParent()
	}
	if err != nil {
		return nil, err
	}
	p := &pool{size: size, live: make(map[*pooledChild]struct{})}
	p.mu.Lock()
	p.fillLocked(n)
	p.mu.Unlock()
	P := &Pool{n: n, p: p}
	// The children never refer to the Pool, so an unreachable Pool can end
	// them. (Cleanups share one goroutine: close, which waits, runs on its
	// own.)
	runtime.AddCleanup(P, func(p *pool) { go p.close() }, p)
	return P, nil
}

// Run runs f with args on a ready child of the pool, or on a cold one if
// none is ready, and returns as Namespace.Run does. After Close it returns
// an error wrapping ErrClosed and runs nothing.
func (p *Pool) Run(ctx context.Context, f *Func, args ...string) error {
	if f == nil || lookupFunc(f.name) != f {
		return fmt.Errorf("namespace: Pool.Run: %w: make the function with Register", ErrUnknownFunc)
	}
	_, err := p.runJob(ctx, verbRun, &job{Role: roleFunc, Func: f.name, Args: args})
	return err
}

// runJob runs j on a ready child, or on a cold one.
func (p *Pool) runJob(ctx context.Context, _ verb, j *job) (json.RawMessage, error) {
	guardChild()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, ran, err := p.p.run(ctx, p.n, j)
	if ran {
		return out, err
	}
	if p.p.isClosed() {
		return nil, fmt.Errorf("namespace: Pool.Run: %w: make a new Pool, or use Namespace.Run", ErrClosed)
	}
	return p.n.runCold(ctx, j)
}

// Close ends the pool: children waiting for a job are killed and reaped,
// and Close waits for Runs in flight on pooled children to end, and for
// the children whose Run has returned to exit. Runs that start afterwards
// fail with ErrClosed. Close is safe to call more than once and
// concurrently with Run. It returns nil.
func (p *Pool) Close() error {
	p.p.close()
	return nil
}

// pool holds the children of a Pool.
type pool struct {
	size int

	mu       sync.Mutex
	closed   bool
	idle     []*pooledChild            // waiting in Init, oldest first
	live     map[*pooledChild]struct{} // started and not taken: idle or getting ready
	starting int                       // spawns in progress
	failures int                       // consecutive failed spawns
	retryAt  time.Time                 // no spawn before this, after failures
	wg       sync.WaitGroup            // spawns and child keepers
}

// pooledChild is one child of a pool.
type pooledChild struct {
	cmd   *childProc
	sock  *os.File // the parent's end of the socket
	token string
	plan  plan

	idle     chan struct{}                  // closed when the child reported idle
	onResult atomic.Pointer[func(*message)] // set at hand-off; called when the result arrives
	waited   chan struct{}                  // closed when the child has exited and was reaped
	waitErr  error
	reports  chan report // the child's messages, at its end of file
	taken    bool        // handed to a Run (guarded by pool.mu)

	// For a taken child: released is closed when its Run no longer uses
	// it; detached (set before) means that the Run returned before the
	// child exited, and keep cleans up after it.
	released chan struct{}
	detached bool

	// Set before done is closed, for a child that was never taken.
	rep  report
	done chan struct{}

	// The child's own cgroup (cgroup options), or nil; what it counted
	// and the error of removing it are set before waited is closed.
	cg      *cgroupDir
	cgUsage CgroupUsage
	cgErr   error
}

// Bounds of the delay between attempts to start pool children after a
// failure.
const (
	poolRetryMin = 100 * time.Millisecond
	poolRetryMax = 10 * time.Second
)

// run runs j on a pool child if one is ready, and reports false if none is
// (then the caller starts a cold child).
func (p *pool) run(ctx context.Context, n *Namespace, j *job) (json.RawMessage, bool, error) {
	pc := p.take(n)
	if pc == nil {
		return nil, false, nil
	}
	out, retry, err := p.handOff(ctx, n, pc, j)
	// Refill now, not while the job runs: a child starting takes CPU.
	p.mu.Lock()
	p.fillLocked(n)
	p.mu.Unlock()
	if retry {
		return nil, false, nil
	}
	return out, true, err
}

// take removes a live idle child from the pool, or returns nil. If it finds
// none, it starts children to fill the pool; otherwise run refills the pool
// once the job is done.
func (p *pool) take(n *Namespace) *pooledChild {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	var pc *pooledChild
	for pc == nil && len(p.idle) > 0 {
		c := p.idle[0]
		p.idle = p.idle[1:]
		select {
		case <-c.waited:
			continue // died while idle (killed from outside); its keeper cleans up
		default:
		}
		c.taken = true
		delete(p.live, c)
		pc = c
	}
	if pc == nil {
		p.fillLocked(n)
	}
	return pc
}

// fillLocked starts as many children as the pool lacks, unless starting
// failed recently.
func (p *pool) fillLocked(n *Namespace) {
	if p.closed || time.Now().Before(p.retryAt) {
		return
	}
	for p.starting+len(p.live) < p.size {
		p.starting++
		p.wg.Add(1)
		go p.spawn(n)
	}
}

// spawn starts one child and puts it in the pool once it is idle.
func (p *pool) spawn(n *Namespace) {
	defer p.wg.Done()
	err := p.start(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starting--
	if err == nil {
		p.failures = 0
		p.retryAt = time.Time{}
		return
	}
	p.failures++
	delay := poolRetryMin << min(p.failures-1, 10)
	p.retryAt = time.Now().Add(min(delay, poolRetryMax))
	n.log().Debug("pool: cannot start a child", "err", err, "retry in", min(delay, poolRetryMax))
}

// start starts a pool child and waits until it is idle or has exited.
func (p *pool) start(n *Namespace) error {
	token := newToken()
	pl := n.childPlan()
	joinWorkDir(&pl)
	prewarm := &job{Token: token, Role: rolePrewarm, Plan: pl}
	cg, err := n.openCgroup()
	if err != nil {
		return err
	}
	parentEnd, childEnd, err := socketPair()
	if err != nil {
		_, _ = cg.finish()
		return err
	}
	pc := &pooledChild{
		cmd:      n.childCmd(token, childEnd),
		sock:     parentEnd,
		token:    token,
		plan:     pl,
		idle:     make(chan struct{}),
		waited:   make(chan struct{}),
		reports:  make(chan report, 1),
		done:     make(chan struct{}),
		released: make(chan struct{}),
		cg:       cg,
	}
	cg.into(pc.cmd.SysProcAttr)
	started := make(chan error, 1)
	p.wg.Add(1)
	go p.keep(pc, childEnd, started)
	if err := <-started; err != nil {
		parentEnd.Close()
		return n.startErrorIn(cg, err)
	}
	n.log().Debug("pool: started child", "pid", pc.cmd.Process.Pid)
	go func() {
		idle := false
		hellos := 0
		pc.reports <- readReport(parentEnd, func(m *message) {
			switch {
			case m.Type == msgHello:
				// The job goes to a child that asks for it (a second
				// stage asks again); a failed answer ends the child,
				// which reports why, unless it asks too often or does
				// not read its answer: then it is killed.
				hellos++
				if err := answerHelloBounded(parentEnd, prewarm, m.Msg, hellos, jobWriteTimeout); errors.Is(err, ErrProtocol) {
					n.log().Debug("pool: ending a child", "pid", pc.cmd.Process.Pid, "err", err)
					_ = pc.cmd.Process.Kill()
				}
			case m.Type == msgIdle && !idle:
				idle = true
				close(pc.idle)
			case m.Type == msgResult:
				if f := pc.onResult.Load(); f != nil {
					(*f)(m)
				}
			}
		})
	}()
	select {
	case <-pc.idle:
	case <-pc.done:
		return n.poolFailure(pc)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.live[pc]; ok && !p.closed {
		p.idle = append(p.idle, pc)
	}
	return nil
}

// poolFailure explains why a pool child exited before it was idle.
func (n *Namespace) poolFailure(pc *pooledChild) error {
	j := &job{Role: rolePrewarm, Plan: n.plan()}
	_, err := n.outcome(j, pc.cmd.ProcessState, pc.waitErr, pc.rep)
	if err == nil {
		err = fmt.Errorf("namespace: pool child exited with status 0 before it was ready: %w", ErrNoInit)
	}
	return err
}

// keep starts pc from a goroutine locked to its OS thread (Pdeathsig fires
// when that thread exits) and reaps it. A child that was never taken is
// cleaned up here, and so is a taken one whose Run returned before it
// exited; otherwise its Run cleans up.
func (p *pool) keep(pc *pooledChild, childEnd *os.File, started chan<- error) {
	defer p.wg.Done()
	runtime.LockOSThread()
	err := pc.cmd.Start()
	childEnd.Close()
	pc.cg.closeFD()
	if err != nil {
		runtime.UnlockOSThread()
		if _, cerr := pc.cg.finish(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		started <- err
		return
	}
	p.mu.Lock()
	closed := p.closed
	if !closed {
		p.live[pc] = struct{}{}
	}
	p.mu.Unlock()
	if closed {
		_ = pc.cmd.Process.Kill()
	}
	started <- nil
	pc.waitErr = pc.cmd.Wait()
	runtime.UnlockOSThread()
	pc.cgUsage, pc.cgErr = pc.cg.finish()
	close(pc.waited)

	p.mu.Lock()
	delete(p.live, pc)
	p.idle = slices.DeleteFunc(p.idle, func(c *pooledChild) bool { return c == pc })
	taken := pc.taken
	p.mu.Unlock()
	if taken {
		<-pc.released
		if pc.detached {
			_ = pc.sock.SetReadDeadline(time.Now().Add(socketDrainTimeout))
			<-pc.reports
			pc.sock.Close()
		}
		return
	}
	_ = pc.sock.SetReadDeadline(time.Now().Add(socketDrainTimeout))
	pc.rep = <-pc.reports
	pc.sock.Close()
	close(pc.done)
}

// isClosed reports whether close was called.
func (p *pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// close kills the children that are not taken and waits for every child
// of the pool to be reaped.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	victims := make([]*pooledChild, 0, len(p.live))
	for pc := range p.live {
		victims = append(victims, pc)
	}
	p.idle = nil
	p.mu.Unlock()
	for _, pc := range victims {
		_ = pc.cmd.Process.Kill()
	}
	p.wg.Wait()
}

// handOff sends j to the pool child pc and waits for its outcome, as run
// does for a cold child, with one difference: once the function has
// returned nil (its result says so), Run returns at once, and the child's
// exit, which follows, and the end of its namespaces are left to keep
// (Close waits for them). Any other outcome waits for the child's exit, so
// that the exit status is known.
//
// It reports retry if the child died before it took the job, killed from
// outside (not by ctx or a signal to this process): then the function has
// not run, and a cold child can run it.
func (p *pool) handOff(ctx context.Context, n *Namespace, pc *pooledChild, j *job) (out json.RawMessage, retry bool, err error) {
	defer close(pc.released)
	log := n.log()
	sup := n.supervise(ctx, log)
	sup.attach(pc.cmd.Process)
	succeeded := make(chan json.RawMessage, 1)
	onResult := func(m *message) {
		if m.OK && !m.Panic {
			select {
			case succeeded <- m.Output:
			default: // a second result: the first counts
			}
		}
		sup.stopSignals() // while Run wakes up, or the child exits
	}
	pc.onResult.Store(&onResult)
	j.Token = pc.token
	j.Plan = pc.plan
	sup.waitArmed()
	log.Debug("pool: handing job over", "pid", pc.cmd.Process.Pid, "func", j.Func)
	if err := writeFrame(pc.sock, j); err != nil && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		_ = pc.cmd.Process.Kill()
		<-pc.waited
		sup.finish()
		pc.sock.Close()
		<-pc.reports
		return nil, false, fmt.Errorf("namespace: send job to pool child: %w: %w", ErrProtocol, err)
	}
	select {
	case out := <-succeeded:
		sup.finish()
		pc.detached = true // before released is closed
		log.Debug("pool: function returned nil; the child exits in the background", "pid", pc.cmd.Process.Pid)
		return out, false, nil
	case <-pc.waited:
	}
	_ = pc.sock.SetReadDeadline(time.Now().Add(socketDrainTimeout))
	rep := <-pc.reports
	pc.sock.Close()
	cause := sup.finish()
	log.Debug("pool: child exited", "pid", pc.cmd.Process.Pid, "state", pc.cmd.ProcessState.String())
	if cause == nil && !rep.running && rep.result == nil && rep.failure == nil && !rep.noInit {
		log.Debug("pool: child died before it took the job; running cold", "pid", pc.cmd.Process.Pid)
		return nil, true, nil
	}
	out, err = n.outcome(j, pc.cmd.ProcessState, pc.waitErr, rep)
	if cause != nil && err != nil {
		err = fmt.Errorf("namespace: %w: %w", cause, err)
	}
	return out, false, withUsage(err, pc.cgUsage, pc.cgErr)
}

// awaitPooledJob runs in a pool child, in Init: it reports idle and waits,
// without a time limit, for the job to run. End of file on the socket means
// the parent is gone: the child exits. (Signals are not caught while it
// waits: SIGTERM, SIGINT and SIGHUP end it; see signalContext.)
func awaitPooledJob(first *job) *job {
	<-child.prepared // os/signal's threads and, as PID 1, the reaper, before idle
	if err := writeFrame(child.sock, message{Type: msgIdle}); err != nil {
		os.Exit(128 + int(syscall.SIGKILL))
	}
	child.jobs.deadline = time.Time{} // no time limit in a pool
	j := &job{}
	if err := readFrame(child.jobs, j); err != nil {
		if errors.Is(err, io.EOF) {
			child.log.Debug("pool: parent gone; exiting")
			os.Exit(128 + int(syscall.SIGKILL))
		}
		childFail(child.sock, "read pooled job", err)
	}
	if !tokensEqual(j.Token, first.Token) {
		childFail(child.sock, "read pooled job", fmt.Errorf("%w: the job's token does not match", ErrProtocol))
	}
	if j.Role != roleFunc || j.Func == "" {
		childFail(child.sock, "read pooled job", fmt.Errorf("%w: a pool child runs a function, not role %q", ErrProtocol, j.Role))
	}
	// The set-up was done for the first job's plan.
	j.Plan = first.Plan
	// Nothing more comes on the socket but its end: watch for the parent's
	// death from now on.
	child.watching = true
	go watchParent(child.sock)
	return j
}
