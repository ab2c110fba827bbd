FROM busybox
# the context is empty
COPY . /empty/
LABEL from=stdin
