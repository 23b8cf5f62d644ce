// goroutines: a deterministic Go program for mmuemu's differential tests. The Go runtime
// spreads goroutines over several OS threads (clone with CLONE_THREAD), parks them on futexes,
// waits in epoll (netpoller) for timers, sends signals between its threads (preemption with
// SIGURG) and runs a concurrent garbage collector; only deterministic facts are printed.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"time"
)

// Unbuffered channels: a pipeline of three stages.
func pipeline() {
	src := make(chan int)
	sq := make(chan int)
	go func() {
		for i := 1; i <= 100; i++ {
			src <- i
		}
		close(src)
	}()
	go func() {
		for v := range src {
			sq <- v * v
		}
		close(sq)
	}()
	sum := 0
	for v := range sq {
		sum += v
	}
	fmt.Println("pipeline sum of squares 1..100:", sum)
}

// Workers over a buffered channel, a WaitGroup and a Mutex; some workers lock their OS thread.
func workers() {
	jobs := make(chan int, 64)
	var mu sync.Mutex
	var wg sync.WaitGroup
	total := 0
	threads := map[int]bool{}
	// the four locked workers wait for each other once locked: four goroutines locked at the
	// same time are on four distinct OS threads
	var locked sync.WaitGroup
	locked.Add(4)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			if w%2 == 0 {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				tid := syscall.Gettid()
				locked.Done()
				locked.Wait()
				mu.Lock()
				threads[tid] = true
				mu.Unlock()
			}
			local := 0
			for j := range jobs {
				// a little CPU work so that the threads really interleave
				x := j
				for k := 0; k < 2000; k++ {
					x = (x*1103515245 + 12345) & 0x7fffffff
				}
				local += j
				_ = x
			}
			mu.Lock()
			total += local
			mu.Unlock()
		}(w)
	}
	for j := 1; j <= 1000; j++ {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	fmt.Println("workers total:", total, "distinct threads of the locked workers:", len(threads))
}

// LockOSThread: a locked goroutine keeps its thread id across blocking operations (the thread
// may be the main one: the main goroutine is not locked to it).
func lockedThread() {
	done := make(chan bool)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid := syscall.Gettid()
		same := true
		for i := 0; i < 5; i++ {
			time.Sleep(time.Millisecond)
			runtime.Gosched()
			if syscall.Gettid() != tid {
				same = false
			}
		}
		done <- same
	}()
	fmt.Println("locked goroutine stays on its own thread:", <-done)
}

// select over several channels, a default case, time.After and a timer.
func selects() {
	a := make(chan string)
	b := make(chan string, 1)
	go func() { a <- "a" }()
	b <- "b"
	got := []string{}
	for len(got) < 2 {
		select {
		case s := <-a:
			got = append(got, s)
		case s := <-b:
			got = append(got, s)
		}
	}
	sort.Strings(got)
	fmt.Println("select received:", got)

	empty := make(chan int)
	select {
	case <-empty:
		fmt.Println("select default: wrong")
	default:
		fmt.Println("select default: taken")
	}

	never := make(chan int)
	start := time.Now()
	select {
	case <-never:
		fmt.Println("time.After: wrong")
	case <-time.After(20 * time.Millisecond):
		fmt.Println("time.After fired after >= 20ms:", time.Since(start) >= 20*time.Millisecond)
	}

	t := time.NewTimer(time.Hour)
	fmt.Println("timer stopped before firing:", t.Stop())
	t2 := time.NewTimer(5 * time.Millisecond)
	<-t2.C
	fmt.Println("timer fired")

	tick := time.NewTicker(2 * time.Millisecond)
	n := 0
	for range tick.C {
		n++
		if n == 5 {
			break
		}
	}
	tick.Stop()
	fmt.Println("ticker ticks:", n)

	start = time.Now()
	time.Sleep(10 * time.Millisecond)
	fmt.Println("time.Sleep slept >= 10ms:", time.Since(start) >= 10*time.Millisecond)
}

// Garbage: a few MB of short-lived allocations, then runtime.GC().
var sink [][]byte

func garbage() {
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 400; i++ {
		b := make([]byte, 16<<10)
		b[0] = byte(i)
		sink = append(sink, b)
		if len(sink) > 32 {
			sink = sink[1:]
		}
	}
	sink = nil
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	fmt.Println("GC ran:", after.NumGC > before.NumGC,
		"allocated >= 6MB:", after.TotalAlloc-before.TotalAlloc >= 6<<20)
}

// A panic recovered, in a goroutine and in the main goroutine (a nil map write and an index
// out of range: runtime errors raised from SIGSEGV-free checks, and a nil pointer dereference,
// which the runtime raises from a real SIGSEGV).
func recovered(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return "no panic"
}

func panics() {
	fmt.Println("recovered:", recovered(func() { panic("boom") }))
	fmt.Println("recovered:", recovered(func() {
		s := []int{1, 2, 3}
		i := 5
		_ = s[i]
	}))
	fmt.Println("recovered:", recovered(func() {
		var p *struct{ x int }
		p.x = 1
	}))
	ch := make(chan string)
	go func() { ch <- recovered(func() { var m map[string]int; m["x"] = 1 }) }()
	fmt.Println("recovered in goroutine:", <-ch)
}

// os/signal: SIGUSR1 sent to the process with syscall.Kill is delivered on the channel.
func signals() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGUSR1); err != nil {
		fmt.Println("kill failed:", err)
		return
	}
	select {
	case s := <-c:
		fmt.Println("signal received:", s)
	case <-time.After(5 * time.Second):
		fmt.Println("signal not received")
	}
	signal.Stop(c)
}

func main() {
	prev := runtime.GOMAXPROCS(4)
	_ = prev
	fmt.Println("GOMAXPROCS:", runtime.GOMAXPROCS(0))
	pipeline()
	workers()
	lockedThread()
	selects()
	garbage()
	panics()
	signals()
	fmt.Println("goroutines done")
}
