FROM busybox
RUN ["/bin/sh", "-c", "echo \"tabs stripped\" > /chomp.txt\nif true; then\necho nested > /chomp-nested.txt\nfi\n"]
