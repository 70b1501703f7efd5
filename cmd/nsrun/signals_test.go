//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// startReady starts cmd and waits until it prints "ready"; it returns the
// rest of its standard output.
func startReady(t *testing.T, cmd *exec.Cmd) *bufio.Reader {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killSession(t, cmd) })
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("COMMAND did not get ready: %q, %v", line, err)
	}
	return r
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

// trapScript reports USR1, HUP and INT, and exits 4 on TERM.
const trapScript = `trap 'echo got-usr1' USR1; trap 'echo got-hup' HUP; trap 'echo got-int' INT
trap 'echo got-term; exit 4' TERM; echo ready; while :; do sleep 0.05; done`

// TestSignalsAreForwarded: the signals sent to nsrun reach COMMAND: when
// COMMAND replaced nsrun (-m as root), forwarded by nsrun (--fork, and -m
// as uid 65534, which adds a user namespace), as PID 1 (which has handlers
// for them) and under --init.
func TestSignalsAreForwarded(t *testing.T) {
	for _, flags := range [][]string{{"-m"}, {"-f", "-m"}, {"-p"}, {"-p", "--init"}} {
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			cmd := nsrun(t, append(flags, "--", "sh", "-c", trapScript)...)
			r := startReady(t, cmd)
			for _, s := range []struct {
				sig  syscall.Signal
				want string
			}{{syscall.SIGUSR1, "got-usr1"}, {syscall.SIGHUP, "got-hup"}, {syscall.SIGINT, "got-int"}} {
				if err := cmd.Process.Signal(s.sig); err != nil {
					t.Fatal(err)
				}
				if line := readLine(t, r); line != s.want {
					t.Fatalf("after %v: COMMAND printed %q, want %q", s.sig, line, s.want)
				}
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			line := readLine(t, r)
			err := wait(t, cmd, "nsrun")
			var ee *exec.ExitError
			if line != "got-term" || !errors.As(err, &ee) || ee.ExitCode() != 4 {
				t.Errorf("after SIGTERM: COMMAND printed %q, nsrun ended with %v; want got-term and exit status 4", line, err)
			}
		})
	}
}

// TestKilledAfterGrace: a COMMAND that outlives the kill grace after a
// terminating signal is killed, and nsrun exits 128+SIGKILL. This covers a
// COMMAND that ignores SIGTERM, and a PID 1 without a handler, to which the
// kernel does not deliver it.
func TestKilledAfterGrace(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"ignores TERM", []string{"--kill-grace", "100ms", "-m", "--", "sh", "-c", `trap '' TERM; echo ready; while :; do sleep 0.05; done`}},
		{"PID 1", []string{"--kill-grace=100ms", "-p", "--", "sh", "-c", `echo ready; exec sleep 1000`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := nsrun(t, tc.args...)
			startReady(t, cmd)
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			_ = wait(t, cmd, "nsrun")
			if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGKILL) {
				t.Errorf("exit status %d, want %d (COMMAND killed)", code, 128+int(syscall.SIGKILL))
			}
		})
	}
}

// TestTerminalSignals: the terminal's Ctrl-C reaches COMMAND once. With the
// terminal on standard input, COMMAND has its own foreground process group
// and nsrun does not see the signal at all; with the terminal only as the
// controlling terminal, both get it and nsrun does not forward it (its -v
// log says so). SIGTERM sent to nsrun afterwards is forwarded in both cases.
//
// Under --init, COMMAND (PID 2) takes the terminal from the init in the
// first case and shares the init's process group in the second, where the
// init does not send the terminal's SIGINT on either.
func TestTerminalSignals(t *testing.T) {
	for _, tc := range []struct {
		onStdin bool
		flags   []string
	}{{true, []string{"-f", "-m"}}, {false, []string{"-f", "-m"}}, {true, []string{"--init"}}, {false, []string{"--init"}}} {
		onStdin := tc.onStdin
		name := "controlling terminal only"
		if onStdin {
			name = "terminal on stdin"
		}
		t.Run(name+" "+strings.Join(tc.flags, " "), func(t *testing.T) {
			p, slave := openPty(t)
			args := append(append([]string{"-v"}, tc.flags...), "--", "sh", "-c", `trap 'echo got-int' INT; trap 'echo got-term; exit 4' TERM
echo ready; while :; do sleep 0.05; done`)
			cmd := nsrun(t, args...)
			var logs bytes.Buffer
			cmd.Stdout, cmd.Stderr = slave, &logs
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 1}
			if onStdin {
				cmd.Stdin = slave
				cmd.SysProcAttr.Ctty = 0
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { killSession(t, cmd) })
			p.expect(t, "ready")
			p.write(t, "\x03") // Ctrl-C: the terminal signals its foreground group
			p.expect(t, "got-int")
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			p.expect(t, "got-term")
			err := wait(t, cmd, "nsrun")
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 4 {
				t.Errorf("nsrun ended with %v, want exit status 4", err)
			}
			log := logs.String()
			if logged(log, `msg="forwarding signal"`, "signal=interrupt") {
				t.Errorf("nsrun forwarded the terminal's SIGINT, which COMMAND got already:\n%s", log)
			}
			if !logged(log, `msg="forwarding signal"`, "signal=terminated") {
				t.Errorf("SIGTERM was not forwarded:\n%s", log)
			}
			skipped := logged(log, "signal not forwarded", "signal=interrupt")
			if onStdin && logged(log, "signal=interrupt") {
				t.Errorf("nsrun received the terminal's SIGINT although COMMAND has its own foreground group:\n%s", log)
			}
			if !onStdin && !skipped {
				t.Errorf("nsrun did not log that it left the terminal's SIGINT alone:\n%s", log)
			}
		})
	}
}

// TestTerminalHandover: COMMAND gets a process group of its own on a
// terminal only if standard output is the terminal too; in a pipeline
// (nsrun … | less) it stays in nsrun's group, which the pipeline's other
// commands share, so that they keep the terminal.
func TestTerminalHandover(t *testing.T) {
	for _, stdoutTTY := range []bool{true, false} {
		t.Run(fmt.Sprintf("stdout terminal %v", stdoutTTY), func(t *testing.T) {
			p, slave := openPty(t)
			cmd := nsrun(t, "-f", "-m", "--", "sh", "-c", `echo "pgrps $(cut -d' ' -f5 /proc/$$/stat) $(cut -d' ' -f5 /proc/$PPID/stat) end"`)
			var out bytes.Buffer
			cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, &out, slave
			if stdoutTTY {
				cmd.Stdout = slave
			}
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { killSession(t, cmd) })
			if err := wait(t, cmd, "nsrun"); err != nil {
				t.Fatalf("nsrun: %v; terminal:\n%s", err, p.output())
			}
			text := out.String()
			if stdoutTTY {
				p.expect(t, "end")
				text = p.output()
			}
			var cmdGroup, nsrunGroup int
			i := strings.Index(text, "pgrps ")
			if i < 0 {
				t.Fatalf("no process groups printed: %q", text)
			}
			if _, err := fmt.Sscanf(text[i:], "pgrps %d %d end", &cmdGroup, &nsrunGroup); err != nil {
				t.Fatalf("output %q: %v", text, err)
			}
			if own := cmdGroup != nsrunGroup; own != stdoutTTY {
				t.Errorf("COMMAND's process group %d, nsrun's %d: own group %v, want %v", cmdGroup, nsrunGroup, own, stdoutTTY)
			}
		})
	}
}

// TestInteractiveShell drives `nsrun -p -- sh -i` through a pseudo-terminal:
// the shell is PID 1 (2 with --init) on a terminal, Ctrl-C interrupts its
// foreground command and not the shell, and its exit status comes back.
func TestInteractiveShell(t *testing.T) {
	for _, tc := range []struct {
		flags []string
		pid   string
	}{{[]string{"-p"}, "1"}, {[]string{"-p", "--init"}, "2"}} {
		t.Run(strings.Join(tc.flags, " "), func(t *testing.T) {
			p, slave := openPty(t)
			cmd := nsrun(t, append(tc.flags, "--", "sh", "-i")...)
			cmd.Env = append(os.Environ(), "PS1=$ ", "ENV=")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { killSession(t, cmd) })
			p.write(t, "echo pid=$$ tty=$(tty >/dev/null && echo yes)\n")
			p.expect(t, "pid="+tc.pid+" tty=yes")
			p.write(t, "echo sleeping; sleep 1000\n")
			p.expect(t, "sleeping\r\n")
			p.waitForeground(t, "sleep")
			p.write(t, "\x03")
			p.expect(t, "$ ") // the prompt again: the shell survived
			p.write(t, "echo status=$?\n")
			p.expect(t, "status=130")
			p.write(t, "exit 3\n")
			_ = wait(t, cmd, "nsrun -- sh -i")
			if code := cmd.ProcessState.ExitCode(); code != 3 {
				t.Errorf("exit status %d, want 3; terminal:\n%s", code, p.output())
			}
		})
	}
}

// TestJobControl runs nsrun from an interactive bash on a pseudo-terminal:
// Ctrl-Z stops COMMAND and the job, fg continues both, and Ctrl-C then ends
// COMMAND, whose status (130) bash reports; with nsrun as COMMAND's parent
// (--fork) and with COMMAND in nsrun's place (-m as root).
func TestJobControl(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed; it plays the calling shell")
	}
	for _, flags := range [][]string{{"-m"}, {"-f", "-m"}} {
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			jobControl(t, bash, withUser(flags))
		})
	}
}

func jobControl(t *testing.T, bash string, flags []string) {
	p, slave := openPty(t)
	nsrunArgs := strings.Join(flags, " ")
	cmd := exec.CommandContext(t.Context(), bash, "--norc", "--noprofile", "-i")
	cmd.Env = append(os.Environ(), "PS1=$ ", "NSRUN="+nsrunBinary(t))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killSession(t, cmd) })
	p.expect(t, "$ ")
	// COMMAND prints "t2ck", which differs from the command line bash
	// echoes, and then is sleep itself: a shell that forks could be caught
	// by Ctrl-Z between vfork and exec, where it cannot stop.
	p.write(t, `"$NSRUN" `+nsrunArgs+` -- sh -c 'echo t$((1+1))ck; exec sleep 1000'`+"\n")
	p.expect(t, "t2ck")
	p.waitForeground(t, "sleep")
	p.write(t, "\x1a") // Ctrl-Z
	p.expect(t, "Stopped")
	p.expect(t, "$ ")
	p.write(t, "echo jobs=$(jobs | wc -l)\n")
	p.expect(t, "jobs=1")
	p.expect(t, "$ ")
	p.write(t, "fg\n")
	p.waitForeground(t, "sleep") // running again, with the terminal
	p.write(t, "\x03")           // Ctrl-C
	p.expect(t, "$ ")
	p.write(t, "echo status=$?\n")
	p.expect(t, "status=130")
	p.write(t, "exit 0\n")
	if err := wait(t, cmd, "bash"); err != nil {
		t.Errorf("bash: %v; terminal:\n%s", err, p.output())
	}
}

// logged reports whether a line of log holds every one of parts.
func logged(log string, parts ...string) bool {
	for _, l := range strings.Split(log, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}
