package apidocs

// Exported for the tests of package apidocs_test.
var (
	RouteProblem     = routeProblem
	EndpointProblems = endpointProblems
)
