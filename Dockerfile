# One image holding every binary of the fleet (every cmd/*, including the
# tpictl CLI that also serves as the container health check, since the
# distroless runtime has no shell, curl or wget); compose picks the command.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/...

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER nonroot:nonroot
# Each service sets its own command, e.g. ["notification-worker"]; health:
# ["tpictl", "healthcheck", "http://127.0.0.1:9090/healthz"].
CMD ["tpictl", "help"]
