FROM busybox
RUN ["/bin/sh", "-c", "mkdir -p /dev/pipes && cat > /dev/pipes/EOF <<'XEOF'\n#!/bin/sh\nset -e\necho \"interpreter: $0\" | sed 's,/dev/pipes/,,' > /shebang.txt\nmkdir -p /from-script\necho ok > /from-script/ok\nXEOF\nchmod 0755 /dev/pipes/EOF && /dev/pipes/EOF"]
