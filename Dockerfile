# Sluice: build on Debian 12, run on a slim Debian 12 with only the runtime libraries.
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libyaml-dev libcjson-dev libpcre2-dev zlib1g-dev \
      libuv1-dev libhiredis-dev node-llhttp ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY validator validator
COPY collector collector
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF \
    && cmake --build build -j"$(nproc)" --target sluice

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libyaml-0-2 libcjson1 libpcre2-8-0 zlib1g libuv1 libhiredis0.14 redis-server \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/sluice sluice \
    && mkdir -p /var/lib/sluice && chown sluice /var/lib/sluice
COPY --from=build /src/build/sluice /usr/local/bin/sluice
COPY specs /etc/sluice/specs
USER sluice
WORKDIR /var/lib/sluice
EXPOSE 8080
# With no --redis, sluice starts its own redis-server with its data under ./sluice-data (AOF on).
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["serve", "--plan", "/etc/sluice/specs/ecommerce.yaml", "--listen", "0.0.0.0:8080"]
