FROM busybox AS build
RUN mkdir -p /out/lib && echo lib > /out/lib/lib.so && echo bin > /out/app

FROM busybox
COPY f /app/f
COPY --from=build /out /dist/
COPY --chown=1000:1000 --from=build /out/app /srv/app
