// Cross-checks ringdump's lib/controls.ts against Debian's libcamera headers.
//
// Built by tests/controls_c_test.ts with:
//   g++ -std=c++17 -I/usr/include/libcamera ipa_layout.cpp -o ipa_layout
//
// Modes:
//   ipa_layout layout
//       JSON: IPA_CONTROLS_FORMAT_VERSION, sizeof/offsetof of every struct of
//       ipa_controls.h, sizeof(ControlType) and the enum values of
//       ControlType (controls.h) and ipa_controls_id_map_type.
//   ipa_layout write-list HANDLE [aligned]
//       Writes to stdout a ControlList packet built from the C structs, laid
//       out as libcamera's ControlSerializer does (value = ControlType, then
//       the elements; contiguous, or each value 8-byte aligned with
//       "aligned"). Its content is the fixed list described in kList below.
//   ipa_layout read-list FILE
//   ipa_layout read-map FILE
//       Parses and validates a packet (header, entries, data offsets as
//       libcamera's deserializer demands: each entry's data right after the
//       previous one) and prints
//       its content, one line per value (format: see printValue). Exits 1
//       with a message on stderr if the packet is invalid.

#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <libcamera/controls.h>
#include <libcamera/ipa/ipa_controls.h>

using namespace libcamera;

namespace {

[[noreturn]] void fail(const std::string &msg)
{
	std::fprintf(stderr, "ipa_layout: %s\n", msg.c_str());
	std::exit(1);
}

size_t elementSize(uint32_t type)
{
	switch (type) {
	case ControlTypeNone: return 0;
	case ControlTypeBool: return 1;
	case ControlTypeByte: return 1;
	case ControlTypeInteger32: return 4;
	case ControlTypeInteger64: return 8;
	case ControlTypeFloat: return 4;
	case ControlTypeString: return 1;
	case ControlTypeRectangle: return 16;
	case ControlTypeSize: return 8;
	default: fail("unknown control type " + std::to_string(type));
	}
}

size_t align8(size_t n)
{
	return (n + 7) / 8 * 8;
}

// ---- layout -------------------------------------------------------------

void printLayout()
{
#define OFF(s, f) "\"" #f "\": %zu"
	std::printf("{\n  \"version\": %d,\n  \"controlTypeSize\": %zu,\n",
		    IPA_CONTROLS_FORMAT_VERSION, sizeof(ControlType));
	std::printf("  \"header\": {\"size\": %zu, \"offsets\": {" OFF(h, version) ", "
		    OFF(h, handle) ", " OFF(h, entries) ", " OFF(h, size) ", "
		    OFF(h, data_offset) ", " OFF(h, id_map_type) ", " OFF(h, reserved) "}},\n",
		    sizeof(ipa_controls_header), offsetof(ipa_controls_header, version),
		    offsetof(ipa_controls_header, handle), offsetof(ipa_controls_header, entries),
		    offsetof(ipa_controls_header, size), offsetof(ipa_controls_header, data_offset),
		    offsetof(ipa_controls_header, id_map_type),
		    offsetof(ipa_controls_header, reserved));
	std::printf("  \"valueEntry\": {\"size\": %zu, \"offsets\": {" OFF(v, id) ", "
		    OFF(v, type) ", " OFF(v, is_array) ", " OFF(v, count) ", " OFF(v, offset) ", "
		    OFF(v, padding) "}},\n",
		    sizeof(ipa_control_value_entry), offsetof(ipa_control_value_entry, id),
		    offsetof(ipa_control_value_entry, type),
		    offsetof(ipa_control_value_entry, is_array),
		    offsetof(ipa_control_value_entry, count),
		    offsetof(ipa_control_value_entry, offset),
		    offsetof(ipa_control_value_entry, padding));
	std::printf("  \"infoEntry\": {\"size\": %zu, \"offsets\": {" OFF(i, id) ", "
		    OFF(i, type) ", " OFF(i, offset) ", " OFF(i, padding) "}},\n",
		    sizeof(ipa_control_info_entry), offsetof(ipa_control_info_entry, id),
		    offsetof(ipa_control_info_entry, type), offsetof(ipa_control_info_entry, offset),
		    offsetof(ipa_control_info_entry, padding));
#undef OFF
	std::printf("  \"controlTypes\": {\"None\": %d, \"Bool\": %d, \"Byte\": %d, "
		    "\"Integer32\": %d, \"Integer64\": %d, \"Float\": %d, \"String\": %d, "
		    "\"Rectangle\": %d, \"Size\": %d},\n",
		    ControlTypeNone, ControlTypeBool, ControlTypeByte, ControlTypeInteger32,
		    ControlTypeInteger64, ControlTypeFloat, ControlTypeString,
		    ControlTypeRectangle, ControlTypeSize);
	std::printf("  \"idMapTypes\": {\"Controls\": %d, \"Properties\": %d, \"V4L2\": %d}\n}\n",
		    IPA_CONTROL_ID_MAP_CONTROLS, IPA_CONTROL_ID_MAP_PROPERTIES,
		    IPA_CONTROL_ID_MAP_V4L2);
}

// ---- write-list ---------------------------------------------------------

struct Item {
	uint32_t id;
	ControlType type;
	bool isArray;
	uint16_t count;
	std::vector<uint8_t> data;
};

template<typename T>
void put(std::vector<uint8_t> &out, const T &v)
{
	const uint8_t *p = reinterpret_cast<const uint8_t *>(&v);
	out.insert(out.end(), p, p + sizeof(T));
}

std::vector<Item> makeList()
{
	std::vector<Item> items;
	auto add = [&](uint32_t id, ControlType type, bool isArray, uint16_t count,
		       std::vector<uint8_t> data) {
		items.push_back({ id, type, isArray, count, std::move(data) });
	};
	std::vector<uint8_t> d;

	d.clear(); put(d, true);
	add(1, ControlTypeBool, false, 1, d);
	d = { 0, 127, 255 };
	add(2, ControlTypeByte, true, 3, d);
	d.clear(); put(d, int32_t(-123456));
	add(3, ControlTypeInteger32, false, 1, d);
	d.clear(); put(d, int64_t(-(int64_t(1) << 40) - 5));
	add(4, ControlTypeInteger64, false, 1, d);
	d.clear(); put(d, 1.5f);
	add(5, ControlTypeFloat, false, 1, d);
	const char *s = "ringdump";
	d.assign(s, s + std::strlen(s));
	add(6, ControlTypeString, true, uint16_t(d.size()), d);
	d.clear(); put(d, int32_t(1)); put(d, int32_t(-2)); put(d, int32_t(3));
	add(7, ControlTypeInteger32, true, 3, d);
	d.clear(); put(d, int32_t(-1)); put(d, int32_t(2)); put(d, uint32_t(640)); put(d, uint32_t(480));
	add(8, ControlTypeRectangle, false, 1, d);
	d.clear(); put(d, uint32_t(1920)); put(d, uint32_t(1080)); put(d, uint32_t(1280)); put(d, uint32_t(720));
	add(9, ControlTypeSize, true, 2, d);
	return items;
}

void writeList(uint32_t handle, bool aligned)
{
	std::vector<Item> items = makeList();

	size_t entriesSize = items.size() * sizeof(ipa_control_value_entry);
	size_t dataOffset = sizeof(ipa_controls_header) + entriesSize;
	std::vector<ipa_control_value_entry> entries;
	std::vector<uint8_t> data;
	for (const Item &item : items) {
		if (aligned)
			data.resize(align8(data.size()), 0);
		ipa_control_value_entry entry;
		std::memset(&entry, 0, sizeof(entry));
		entry.id = item.id;
		entry.type = item.type;
		entry.is_array = item.isArray;
		entry.count = item.count;
		entry.offset = uint32_t(data.size());
		entries.push_back(entry);
		put(data, item.type); /* sizeof(ControlType) bytes, as ControlSerializer::store */
		data.insert(data.end(), item.data.begin(), item.data.end());
	}

	ipa_controls_header hdr;
	std::memset(&hdr, 0, sizeof(hdr));
	hdr.version = IPA_CONTROLS_FORMAT_VERSION;
	hdr.handle = handle;
	hdr.entries = uint32_t(items.size());
	hdr.size = uint32_t(dataOffset + data.size());
	hdr.data_offset = uint32_t(dataOffset);
	hdr.id_map_type = IPA_CONTROL_ID_MAP_V4L2;

	std::fwrite(&hdr, sizeof(hdr), 1, stdout);
	std::fwrite(entries.data(), sizeof(ipa_control_value_entry), entries.size(), stdout);
	std::fwrite(data.data(), 1, data.size(), stdout);
	std::fflush(stdout);
}

// ---- read-list / read-map -----------------------------------------------

std::vector<uint8_t> readFile(const char *path)
{
	FILE *f = std::fopen(path, "rb");
	if (!f)
		fail(std::string("cannot open ") + path);
	std::vector<uint8_t> buf;
	uint8_t chunk[4096];
	size_t n;
	while ((n = std::fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf.insert(buf.end(), chunk, chunk + n);
	std::fclose(f);
	return buf;
}

template<typename T>
T get(const uint8_t *p)
{
	T v;
	std::memcpy(&v, p, sizeof(T));
	return v;
}

/*
 * Prints "<type> <is_array> <count> <elements>" for the value at data + *pos
 * and advances *pos past it. Elements are comma-separated: bools 0/1,
 * integers in decimal, floats as the hex of their bits, strings as the hex of
 * their bytes, rectangles x:y:w:h, sizes w:h; "-" when there are none.
 */
void printValue(const std::vector<uint8_t> &buf, size_t dataStart, size_t end, size_t *pos,
		bool isArray, uint32_t count, int entryType)
{
	size_t at = dataStart + *pos;
	if (at + sizeof(ControlType) > end)
		fail("value type past the end of the packet");
	uint32_t type = get<uint32_t>(&buf[at]);
	size_t esize = elementSize(type);
	if (entryType >= 0 && uint32_t(entryType) != type)
		fail("entry type " + std::to_string(entryType) + " differs from value type " +
		     std::to_string(type));
	if (type == ControlTypeNone)
		count = 0;
	size_t p = at + sizeof(ControlType);
	if (p + count * esize > end)
		fail("value data past the end of the packet");

	std::printf("%u %d %u ", type, isArray ? 1 : 0, count);
	if (count == 0)
		std::printf("-");
	for (uint32_t k = 0; k < count; k++) {
		const uint8_t *e = &buf[p + k * esize];
		if (k > 0 && type != ControlTypeString)
			std::printf(",");
		switch (type) {
		case ControlTypeBool: std::printf("%u", e[0]); break;
		case ControlTypeByte: std::printf("%u", e[0]); break;
		case ControlTypeInteger32: std::printf("%" PRId32, get<int32_t>(e)); break;
		case ControlTypeInteger64: std::printf("%" PRId64, get<int64_t>(e)); break;
		case ControlTypeFloat: std::printf("0x%08" PRIx32, get<uint32_t>(e)); break;
		case ControlTypeString: std::printf("%02x", e[0]); break;
		case ControlTypeRectangle:
			std::printf("%" PRId32 ":%" PRId32 ":%" PRIu32 ":%" PRIu32, get<int32_t>(e),
				    get<int32_t>(e + 4), get<uint32_t>(e + 8), get<uint32_t>(e + 12));
			break;
		case ControlTypeSize:
			std::printf("%" PRIu32 ":%" PRIu32, get<uint32_t>(e), get<uint32_t>(e + 4));
			break;
		}
	}
	std::printf("\n");
	*pos = p + count * esize - dataStart;
}

void readPacket(const char *path, bool isMap)
{
	std::vector<uint8_t> buf = readFile(path);
	if (buf.size() < sizeof(ipa_controls_header))
		fail("shorter than the header");
	ipa_controls_header hdr;
	std::memcpy(&hdr, buf.data(), sizeof(hdr));
	if (hdr.version != IPA_CONTROLS_FORMAT_VERSION)
		fail("bad version " + std::to_string(hdr.version));
	if (hdr.size != buf.size())
		fail("header size " + std::to_string(hdr.size) + " != file size " +
		     std::to_string(buf.size()));
	size_t entrySize = isMap ? sizeof(ipa_control_info_entry) : sizeof(ipa_control_value_entry);
	if (hdr.data_offset != sizeof(hdr) + hdr.entries * entrySize)
		fail("data_offset does not follow the entries");
	if (hdr.data_offset % 8 != 0)
		fail("data section not 8-byte aligned");
	if (hdr.reserved[0] != 0 || hdr.reserved[1] != 0)
		fail("reserved fields not zero");
	if (isMap && hdr.handle == 0)
		fail("info map with handle 0");
	std::printf("%s handle=%u entries=%u idmap=%u\n", isMap ? "map" : "list", hdr.handle,
		    hdr.entries, unsigned(hdr.id_map_type));

	size_t pos = 0;
	for (uint32_t i = 0; i < hdr.entries; i++) {
		const uint8_t *e = &buf[sizeof(hdr) + i * entrySize];
		uint32_t offset;
		if (isMap) {
			ipa_control_info_entry entry;
			std::memcpy(&entry, e, sizeof(entry));
			offset = entry.offset;
			if (entry.padding[0] != 0)
				fail("info entry padding not zero");
			std::printf("ctrl %u %u\n", entry.id, entry.type);
		} else {
			ipa_control_value_entry entry;
			std::memcpy(&entry, e, sizeof(entry));
			offset = entry.offset;
			if (entry.padding[0] != 0)
				fail("value entry padding not zero");
			std::printf("value %u ", entry.id);
			if (offset != pos)
				fail("entry " + std::to_string(i) + ": offset " + std::to_string(offset) +
				     " where libcamera expects " + std::to_string(pos));
			pos = offset;
			printValue(buf, hdr.data_offset, hdr.size, &pos, entry.is_array, entry.count,
				   entry.type);
			continue;
		}
		if (offset != pos)
			fail("entry " + std::to_string(i) + ": offset " + std::to_string(offset) +
			     " where libcamera expects " + std::to_string(pos));
		pos = offset;
		/* ControlSerializer::loadControlInfo: min, max, def, each a scalar. */
		for (const char *what : { "min", "max", "def" }) {
			std::printf("  %s ", what);
			printValue(buf, hdr.data_offset, hdr.size, &pos, false, 1, -1);
		}
	}
}

} /* namespace */

int main(int argc, char **argv)
{
	std::string mode = argc > 1 ? argv[1] : "";
	if (mode == "layout" && argc == 2) {
		printLayout();
	} else if (mode == "write-list" && (argc == 3 || argc == 4)) {
		writeList(uint32_t(std::strtoul(argv[2], nullptr, 0)),
			  argc == 4 && std::string(argv[3]) == "aligned");
	} else if ((mode == "read-list" || mode == "read-map") && argc == 3) {
		readPacket(argv[2], mode == "read-map");
	} else {
		std::fprintf(stderr,
			     "usage: ipa_layout layout | write-list HANDLE [aligned] | "
			     "read-list FILE | read-map FILE\n");
		return 2;
	}
	return 0;
}
