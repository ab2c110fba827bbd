FROM busybox
RUN printf 'hello world\n' > /greeting.txt
RUN printf 'hello ${NAME}\n' > /literal.txt
RUN mkdir -p /multi && printf 'first world\n' > /multi/EOF1 && printf 'second\n' > /multi/EOF2
RUN mkdir -p /usr/local/bin && printf '#!/bin/sh\necho hello\n' > /usr/local/bin/hello && chmod 0755 /usr/local/bin/hello
