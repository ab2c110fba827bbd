FROM busybox
RUN ["/bin/sh", "-c", "<<FILE1 cat > /file1 && <<FILE2 cat > /file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2"]
RUN ["/bin/sh", "-c", "<<EOF sh\necho piped > /piped.txt\nEOF"]
