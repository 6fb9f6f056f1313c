package main

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// httpTarget sends one request shape to one server over a shared pool of
// keep-alive connections.
type httpTarget struct {
	client  *fasthttp.HostClient
	method  string
	uri     string
	body    []byte
	headers [][2]string
	want    int
}

// newHTTPTarget prepares requests of method to rawURL expecting status want.
func newHTTPTarget(method, rawURL string, body []byte, want, conns int, timeout time.Duration, headers ...[2]string) (*httpTarget, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, errors.New("only http:// targets are supported")
	}
	return &httpTarget{
		client: &fasthttp.HostClient{
			Addr: u.Host, MaxConns: conns, ReadTimeout: timeout, WriteTimeout: timeout,
			MaxIdemponentCallAttempts: 1,
		},
		method: method, uri: rawURL, body: body, headers: headers, want: want,
	}, nil
}

// op is the Op of the target.
func (h *httpTarget) op(ctx context.Context) string {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(h.method)
	req.SetRequestURI(h.uri)
	if h.body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(h.body)
	}
	for _, kv := range h.headers {
		req.Header.Set(kv[0], kv[1])
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	if err := h.client.DoDeadline(req, resp, deadline); err != nil {
		if errors.Is(err, fasthttp.ErrTimeout) {
			return "timeout"
		}
		return "transport error"
	}
	if code := resp.StatusCode(); code != h.want {
		return "status " + strconv.Itoa(code)
	}
	return ""
}
