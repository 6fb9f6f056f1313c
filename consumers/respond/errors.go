package respond

import "errors"

// ErrReplyFailed means a reply could not be produced, not even as an error
// reply; the Responder stops so that its request is handled again by the
// next member of the group.
var ErrReplyFailed = errors.New("reply could not be produced")
