// Initiates the compose stack's three-member replica set `rs0` once, then waits for a primary.
// Run by the `mongo-init` service: mongosh --host mongo1:27017 --file init-replica-set.js
// Idempotent: a second run finds the set initiated and only waits.
const config = {
  _id: "rs0",
  members: [
    { _id: 0, host: "mongo1:27017", priority: 2 },
    { _id: 1, host: "mongo2:27017", priority: 1 },
    { _id: 2, host: "mongo3:27017", priority: 1 },
  ],
};

try {
  rs.status();
  print("replica set rs0 already initiated");
} catch (err) {
  if (err.codeName !== "NotYetInitialized") {
    throw err;
  }
  rs.initiate(config);
  print("replica set rs0 initiated");
}

for (let attempt = 0; attempt < 60; attempt++) {
  const primary = db.hello().primary;
  if (primary) {
    print(`primary: ${primary}`);
    quit(0);
  }
  sleep(1000);
}
print("no primary elected within 60 s");
quit(1);
