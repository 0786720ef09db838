package framework

import "context"

// testServiceEnv makes this test binary run testServiceMain instead of the
// tests (in the launcher and, re-executed, in the daemon stage).
const testServiceEnv = "DAEMONKIT_FRAMEWORK_TEST_SERVICE"

// testServiceMain is a service that takes its logger at the top of main,
// before Main, and logs from every stage with it.
func testServiceMain() {
	d := New(Config{Name: "stages"})
	log := d.Logger()
	d.PreDetach("pre", func(context.Context, *Handoff) error { log.Info("in pre-detach"); return nil })
	d.PostDetach("post", func(context.Context) error { log.Info("in post-detach"); return nil })
	d.OnStop("stop", func(context.Context) error { log.With("k", "v").Info("in on-stop"); return nil })
	Main(d, func(ctx context.Context) error {
		log.Info("in body")
		<-ctx.Done()
		return nil
	})
}
