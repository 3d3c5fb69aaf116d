# evstore: thin wrapper over deploy/*.sh and cmake. Paths are relative to this file.
#
#   make / make build   install missing dependencies (deploy/setup.sh), then build into build/
#   make run            build, start Kafka and the projector, append and read sample events
#   make stop           stop the projector, then Kafka
#   make test           build, start Kafka, run every ctest test (EVSTORE_BROKERS exported)
#   make test-quick     build, run the unit tests only (ctest -L unit; no broker needed)
#   make clean          remove build/ (var/ keeps Kafka's and the projector's data)
#   make distclean      clean, stop everything and remove var/ and the fetched Kafka jars

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
BUILD_DIR ?= $(ROOT)/build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= 2
DATA_DIR := $(or $(EVSTORE_DATA_DIR),$(ROOT)/var)
KAFKA_PORT := $(or $(EVSTORE_KAFKA_PORT),18092)
BROKERS := $(or $(EVSTORE_BROKERS),127.0.0.1:$(KAFKA_PORT))
PROJECTOR_HTTP := $(or $(EVSTORE_PROJECTOR_HTTP),127.0.0.1:18080)
# Extra ctest flags, e.g. make test CTEST_ARGS='-R it_ -j2'. Tests without their own
# TIMEOUT property get 600 s.
CTEST_ARGS ?=
EVSTORE := $(BUILD_DIR)/bin/evstore --brokers $(BROKERS) --projector http://$(PROJECTOR_HTTP)

export EVSTORE_DATA_DIR := $(DATA_DIR)
export EVSTORE_BROKERS := $(BROKERS)
export EVSTORE_PROJECTOR_HTTP := $(PROJECTOR_HTTP)

.PHONY: all build setup run stop test test-quick clean distclean kafka-start kafka-stop

all: build

setup:
	bash $(ROOT)/deploy/setup.sh --deps-only

build: setup
	cmake -S $(ROOT) -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	cmake --build $(BUILD_DIR) -j$(JOBS)

kafka-start: setup
	bash $(ROOT)/deploy/kafka.sh start

kafka-stop:
	bash $(ROOT)/deploy/kafka.sh stop

# Safe to repeat: each run appends two more events to the same stream Order-1.
run: build kafka-start
	bash $(ROOT)/deploy/projector.sh start
	$(EVSTORE) append Order-1 --type OrderPlaced --data '{"total":12}'
	$(EVSTORE) append Order-1 --type OrderPaid --data '{"amount":12}'
	$(EVSTORE) read Order-1
	@echo "evstore is running: Kafka $(BROKERS), projector http://$(PROJECTOR_HTTP) (make stop to stop)"

stop:
	bash $(ROOT)/deploy/projector.sh stop
	bash $(ROOT)/deploy/kafka.sh stop

test: build kafka-start
	ctest --test-dir $(BUILD_DIR) --output-on-failure --timeout 600 $(CTEST_ARGS)

test-quick: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure --timeout 600 -L unit $(CTEST_ARGS)

clean:
	rm -rf $(BUILD_DIR)

distclean: stop clean
	rm -rf $(DATA_DIR) $(ROOT)/deploy/kafka/lib $(ROOT)/deploy/kafka/target
