package ingress

// FakeReplyDeps returns a Correlator and Results that need no Kafka or
// Redis, for external tests of servers with request/response routes.
func FakeReplyDeps() (Correlator, Results) {
	return newFakeCorrelator(), &fakeResults{}
}
