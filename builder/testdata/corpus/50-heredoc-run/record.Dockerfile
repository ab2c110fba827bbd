FROM busybox
RUN ["/bin/sh", "-c", "echo \"from heredoc\" > /heredoc.txt\nmkdir -p /hd/dir\necho \"$PATH\" > /hd/path.txt\nfor i in 1 2 3; do echo \"line $i\"; done > /hd/loop.txt\n"]
RUN echo after > /hd/after.txt
