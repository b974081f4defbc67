package grpcaudit

import (
	"net/http"
	"strconv"

	"github.com/activitylog/activitylog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// codeInfo is what an event says about a gRPC status code: its
// canonical name, as the gRPC specification spells it, and the HTTP
// status that means the same, as google.rpc.Code and grpc-gateway map
// it.
var codeInfo = [...]struct {
	name   string
	status int
}{
	codes.OK:                 {"OK", http.StatusOK},
	codes.Canceled:           {"CANCELLED", 499}, // client closed request
	codes.Unknown:            {"UNKNOWN", http.StatusInternalServerError},
	codes.InvalidArgument:    {"INVALID_ARGUMENT", http.StatusBadRequest},
	codes.DeadlineExceeded:   {"DEADLINE_EXCEEDED", http.StatusGatewayTimeout},
	codes.NotFound:           {"NOT_FOUND", http.StatusNotFound},
	codes.AlreadyExists:      {"ALREADY_EXISTS", http.StatusConflict},
	codes.PermissionDenied:   {"PERMISSION_DENIED", http.StatusForbidden},
	codes.ResourceExhausted:  {"RESOURCE_EXHAUSTED", http.StatusTooManyRequests},
	codes.FailedPrecondition: {"FAILED_PRECONDITION", http.StatusBadRequest},
	codes.Aborted:            {"ABORTED", http.StatusConflict},
	codes.OutOfRange:         {"OUT_OF_RANGE", http.StatusBadRequest},
	codes.Unimplemented:      {"UNIMPLEMENTED", http.StatusNotImplemented},
	codes.Internal:           {"INTERNAL", http.StatusInternalServerError},
	codes.Unavailable:        {"UNAVAILABLE", http.StatusServiceUnavailable},
	codes.DataLoss:           {"DATA_LOSS", http.StatusInternalServerError},
	codes.Unauthenticated:    {"UNAUTHENTICATED", http.StatusUnauthorized},
}

// codeNames holds codeInfo's names as interface values, so that putting
// one into an event's Extra does not allocate.
var codeNames = func() (a [len(codeInfo)]any) {
	for i, c := range codeInfo {
		a[i] = c.name
	}
	return a
}()

// codeValue is codeName(c) as an interface value.
func codeValue(c codes.Code) any {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return codeName(c)
}

// codeName returns the canonical name of c ("NOT_FOUND"), or "CODE_n"
// for a code outside the specification.
func codeName(c codes.Code) string {
	if int(c) < len(codeInfo) {
		return codeInfo[c].name
	}
	return "CODE_" + strconv.FormatUint(uint64(c), 10)
}

// httpStatus returns the HTTP status that means what c means; 500 for a
// code outside the specification.
func httpStatus(c codes.Code) int {
	if int(c) < len(codeInfo) {
		return codeInfo[c].status
	}
	return http.StatusInternalServerError
}

// codeOf returns the status code a call that ended with err ends with,
// as grpc-go's server reports it: the code of a status error, Canceled
// or DeadlineExceeded for a context error, else Unknown.
func codeOf(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	return status.FromContextError(err).Code()
}

// errorText is what Extra["error"] holds for a call that ended with
// err: the status message when err is a status error, else err's text,
// clipped.
func errorText(err error) string {
	msg := err.Error()
	if s, ok := status.FromError(err); ok {
		msg = s.Message()
	}
	return clip(msg, maxErrorText)
}

// maxErrorText bounds the error text kept in an event.
const maxErrorText = activitylog.MaxShortField

func severity(status int) activitylog.Severity {
	switch {
	case status >= 500:
		return activitylog.SeverityError
	case status >= 400:
		return activitylog.SeverityWarning
	}
	return activitylog.SeverityInfo
}
