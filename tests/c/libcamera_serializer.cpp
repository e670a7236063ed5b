// Runs libcamera's own ControlSerializer (Debian's libcamera.so.0.0.3) for
// tests/controls_libcamera_test.ts, in both directions.
//
// libcamera does not install its internal control_serializer.h and
// byte_stream_buffer.h, so this file declares the slice of those two classes
// it calls, with the signatures of libcamera v0.0.3 (checked against the
// symbols `nm -DC libcamera.so.0.0.3` lists). The private members are
// declared as v0.0.3 has them, so that objects have the library's size; the
// library's own constructors and destructor run on them.
//
// Built by the test with:
//   g++ -std=c++17 libcamera_serializer.cpp $(pkg-config --cflags --libs libcamera)
//
// Modes:
//   libcamera_serializer write DIR
//       libcamera builds the maps and lists of the cases below, serializes
//       each into DIR/<case>.bin and prints, per case,
//         case <name> <map|list> <proxy|worker>
//         <description of the in-memory object, see describe*()>
//         end
//   libcamera_serializer read ROLE KIND:FILE...
//       One ControlSerializer of ROLE (proxy|worker) deserializes the packets
//       in order (KIND map or list) and prints per packet either
//         packet <i> ok
//         <description of what libcamera read>
//         end
//       or, when libcamera logs an error or its buffer overflows,
//         packet <i> refused <libcamera's first error line>
//
// Text of a value: TYPE:ISARRAY:COUNT:ELEMENTS, elements comma-separated
// (bools 0/1, integers in decimal, floats as the hex of their bits,
// rectangles x/y/w/h, sizes w/h, a string as the hex of its bytes), "-" when
// there are none. Entries are sorted by id (libcamera keeps hash order).

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <libcamera/control_ids.h>
#include <libcamera/controls.h>
#include <libcamera/geometry.h>
#include <libcamera/logging.h>
#include <libcamera/property_ids.h>

namespace libcamera {

// The slice of libcamera/internal/byte_stream_buffer.h (v0.0.3) used here.
class ByteStreamBuffer
{
public:
	ByteStreamBuffer(const uint8_t *base, size_t size);
	ByteStreamBuffer(uint8_t *base, size_t size);
	ByteStreamBuffer(ByteStreamBuffer &&other);
	ByteStreamBuffer &operator=(ByteStreamBuffer &&other);

	bool overflow() const { return overflow_; }

private:
	ByteStreamBuffer(const ByteStreamBuffer &other) = delete;
	ByteStreamBuffer &operator=(const ByteStreamBuffer &other) = delete;

	ByteStreamBuffer *parent_;
	const uint8_t *base_;
	size_t size_;
	bool overflow_;
	const uint8_t *read_;
	uint8_t *write_;
};

// The slice of libcamera/internal/control_serializer.h (v0.0.3) used here.
class ControlSerializer
{
public:
	enum class Role {
		Proxy,
		Worker
	};

	ControlSerializer(Role role);
	~ControlSerializer();

	void reset();

	static size_t binarySize(const ControlInfoMap &infoMap);
	static size_t binarySize(const ControlList &list);

	int serialize(const ControlInfoMap &infoMap, ByteStreamBuffer &buffer);
	int serialize(const ControlList &list, ByteStreamBuffer &buffer);

	template<typename T>
	T deserialize(ByteStreamBuffer &buffer);

	bool isCached(const ControlInfoMap &infoMap);

private:
	unsigned int serial_;
	unsigned int serialSeed_;
	std::vector<std::unique_ptr<ControlId>> controlIds_;
	std::vector<std::unique_ptr<ControlIdMap>> controlIdMaps_;
	std::map<unsigned int, ControlInfoMap> infoMaps_;
	std::map<const ControlInfoMap *, unsigned int> infoMapHandles_;
};

template<>
ControlInfoMap ControlSerializer::deserialize<ControlInfoMap>(ByteStreamBuffer &buffer);
template<>
ControlList ControlSerializer::deserialize<ControlList>(ByteStreamBuffer &buffer);

} /* namespace libcamera */

using namespace libcamera;

namespace {

[[noreturn]] void fail(const std::string &msg)
{
	std::fprintf(stderr, "libcamera_serializer: %s\n", msg.c_str());
	std::exit(1);
}

// ---- text descriptions --------------------------------------------------

size_t elementSize(ControlType type)
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
	}
	fail("unknown control type " + std::to_string(type));
}

template<typename T>
T at(const uint8_t *p)
{
	T v;
	std::memcpy(&v, p, sizeof(T));
	return v;
}

std::string valueText(const ControlValue &v)
{
	std::ostringstream o;
	/* libcamera counts one element in a None value; ringdump none. */
	size_t n = v.type() == ControlTypeNone ? 0 : v.numElements();
	o << unsigned(v.type()) << ':' << (v.isArray() ? 1 : 0) << ':' << n << ':';
	if (v.type() == ControlTypeNone || n == 0)
		return o.str() + "-";
	Span<const uint8_t> data = v.data();
	size_t esize = elementSize(v.type());
	if (data.size() < n * esize)
		fail("value holds fewer bytes than its elements");
	char buf[64];
	for (size_t k = 0; k < n; k++) {
		const uint8_t *e = data.data() + k * esize;
		if (k > 0 && v.type() != ControlTypeString)
			o << ',';
		switch (v.type()) {
		case ControlTypeBool:
		case ControlTypeByte:
			o << unsigned(e[0]);
			break;
		case ControlTypeString:
			std::snprintf(buf, sizeof(buf), "%02x", e[0]);
			o << buf;
			break;
		case ControlTypeInteger32:
			o << at<int32_t>(e);
			break;
		case ControlTypeInteger64:
			o << at<int64_t>(e);
			break;
		case ControlTypeFloat:
			std::snprintf(buf, sizeof(buf), "%08" PRIx32, at<uint32_t>(e));
			o << buf;
			break;
		case ControlTypeRectangle:
			o << at<int32_t>(e) << '/' << at<int32_t>(e + 4) << '/' << at<uint32_t>(e + 8)
			  << '/' << at<uint32_t>(e + 12);
			break;
		case ControlTypeSize:
			o << at<uint32_t>(e) << '/' << at<uint32_t>(e + 4);
			break;
		case ControlTypeNone:
			break;
		}
	}
	return o.str();
}

int idMapType(const ControlIdMap *idmap)
{
	if (idmap == &controls::controls)
		return 0;
	if (idmap == &properties::properties)
		return 1;
	return 2;
}

std::string describeMap(const ControlInfoMap &map)
{
	std::vector<std::string> lines;
	for (const auto &[id, info] : map)
		lines.push_back("ctrl " + std::to_string(id->id()) + " " +
				std::to_string(unsigned(id->type())) + " min=" + valueText(info.min()) +
				" max=" + valueText(info.max()) + " def=" + valueText(info.def()));
	std::sort(lines.begin(), lines.end(), [](const std::string &a, const std::string &b) {
		return std::stoul(a.substr(5)) < std::stoul(b.substr(5));
	});
	std::string out = "map idmap=" + std::to_string(idMapType(&map.idmap())) +
			  " entries=" + std::to_string(map.size()) + "\n";
	for (const std::string &l : lines)
		out += l + "\n";
	return out;
}

std::string describeList(const ControlList &list)
{
	std::vector<std::pair<unsigned int, std::string>> lines;
	for (const auto &[id, value] : list)
		lines.emplace_back(id, "value " + std::to_string(id) + " " + valueText(value));
	std::sort(lines.begin(), lines.end());
	std::string out = "list idmap=" + std::to_string(idMapType(list.idMap())) +
			  " entries=" + std::to_string(list.size()) + "\n";
	for (const auto &l : lines)
		out += l.second + "\n";
	return out;
}

// ---- the cases libcamera writes -----------------------------------------

template<typename T>
ControlValue span(std::initializer_list<T> v)
{
	return ControlValue(Span<const T>(v.begin(), v.size()));
}

struct Custom {
	std::vector<std::unique_ptr<ControlId>> ids;
	ControlIdMap idmap;

	const ControlId *add(unsigned int id, const char *name, ControlType type)
	{
		ids.push_back(std::make_unique<ControlId>(id, name, type));
		idmap[id] = ids.back().get();
		return ids.back().get();
	}
};

// Custom (V4L2, local id map) controls of every type, ids as V4L2 numbers them.
ControlInfoMap customMap(Custom &c)
{
	ControlInfoMap::Map m;
	m.emplace(c.add(0x00980900, "Brightness", ControlTypeInteger32),
		  ControlInfo(int32_t(-64), int32_t(64), int32_t(0)));
	m.emplace(c.add(0x00980901, "Enable", ControlTypeBool), ControlInfo(false, true, true));
	m.emplace(c.add(0x00980902, "Pattern", ControlTypeByte),
		  ControlInfo(uint8_t(0), uint8_t(255), uint8_t(7)));
	m.emplace(c.add(0x00980903, "Exposure", ControlTypeInteger64),
		  ControlInfo(int64_t(-1), int64_t(1) << 40, int64_t(1000)));
	m.emplace(c.add(0x00980904, "Gain", ControlTypeFloat),
		  ControlInfo(-8.0f, 8.0f, 0.1f));
	m.emplace(c.add(0x00980905, "Model", ControlTypeString),
		  ControlInfo(int32_t(0), int32_t(64)));
	m.emplace(c.add(0x00980906, "Crop", ControlTypeRectangle),
		  ControlInfo(Rectangle(-1, 0, 1, 2), Rectangle(0, 0, 4096, 3072)));
	m.emplace(c.add(0x00980907, "Output", ControlTypeSize),
		  ControlInfo(Size(1, 1), Size(4096, 3072), Size(1920, 1080)));
	m.emplace(c.add(0x00980908, "Lut", ControlTypeInteger32),
		  ControlInfo(int32_t(0), int32_t(1023)));
	m.emplace(c.add(0x00980909, "Bytes", ControlTypeByte), ControlInfo(ControlValue(uint8_t(0))));
	m.emplace(c.add(0x0098090a, "Sizes", ControlTypeSize), ControlInfo(Size(0, 0)));
	return ControlInfoMap(std::move(m), c.idmap);
}

ControlList customList(const ControlInfoMap &map)
{
	ControlList l(map);
	l.set(0x00980900, ControlValue(int32_t(-123456)));
	l.set(0x00980901, ControlValue(true));
	l.set(0x00980902, ControlValue(uint8_t(200)));
	l.set(0x00980903, ControlValue(-(int64_t(1) << 40) - 5));
	l.set(0x00980904, ControlValue(1.5f));
	l.set(0x00980905, ControlValue(std::string("h\xc3\xa4user \xe2\x9c\x93")));
	l.set(0x00980906, ControlValue(Rectangle(-2147483647 - 1, 5, 4294967295u, 0)));
	l.set(0x00980907, ControlValue(Size(1920, 1080)));
	l.set(0x00980908, span<int32_t>({ 1, -2, 3, 2147483647 }));
	l.set(0x00980909, span<uint8_t>({ 0, 127, 255, 9, 8 }));
	l.set(0x0098090a, span<Size>({ Size(1920, 1080), Size(1280, 720) }));
	return l;
}

ControlInfoMap controlsMap()
{
	ControlInfoMap::Map m;
	m.emplace(&controls::AeEnable, ControlInfo(false, true, true));
	m.emplace(&controls::ExposureTime, ControlInfo(int32_t(100), int32_t(66666), int32_t(10000)));
	m.emplace(&controls::FrameDuration, ControlInfo(int64_t(33333), int64_t(1) << 40));
	m.emplace(&controls::Brightness, ControlInfo(-1.0f, 1.0f, 0.0f));
	m.emplace(&controls::ScalerCrop,
		  ControlInfo(Rectangle(0, 0, 640, 480), Rectangle(-8, -4, 4056, 3040)));
	m.emplace(&controls::ColourGains, ControlInfo(0.0f, 32.0f));
	m.emplace(&controls::SensorBlackLevels, ControlInfo(int32_t(0), int32_t(65535)));
	m.emplace(&controls::FrameDurationLimits,
		  ControlInfo(int64_t(1000), int64_t(1000000000), int64_t(33333)));
	m.emplace(&controls::AfWindows,
		  ControlInfo(Rectangle(0, 0, 0, 0), Rectangle(0, 0, 4056, 3040)));
	m.emplace(&controls::AfMode, ControlInfo(controls::AfModeValues));
	m.emplace(&controls::draft::AeState, ControlInfo(int32_t(0), int32_t(5)));
	return ControlInfoMap(std::move(m), controls::controls);
}

ControlList controlsList(const ControlInfoMap &map)
{
	ControlList l(map);
	l.set(controls::AeEnable, true);
	l.set(controls::ExposureTime, 20000);
	l.set(controls::FrameDuration, int64_t(1) << 35);
	l.set(controls::Brightness, 0.25f);
	l.set(controls::ScalerCrop, Rectangle(16, 8, 1920, 1080));
	l.set(controls::ColourGains, { 1.5f, 2.25f });
	l.set(controls::SensorBlackLevels, { 4096, 4097, 4098, 4099 });
	l.set(controls::FrameDurationLimits, { int64_t(33333), int64_t(66666) });
	l.set(controls::AfWindows.id(),
	      span<Rectangle>({ Rectangle(1, 2, 3, 4), Rectangle(5, 6, 7, 8) }));
	l.set(controls::AfMode, int32_t(controls::AfModeContinuous));
	l.set(controls::draft::AeState, int32_t(controls::draft::AeStateConverged));
	return l;
}

ControlInfoMap propertiesMap()
{
	ControlInfoMap::Map m;
	m.emplace(&properties::Location, ControlInfo(int32_t(0), int32_t(2), int32_t(1)));
	m.emplace(&properties::Model, ControlInfo(int32_t(0), int32_t(32)));
	m.emplace(&properties::UnitCellSize, ControlInfo(Size(1120, 1120)));
	m.emplace(&properties::PixelArrayActiveAreas,
		  ControlInfo(Rectangle(0, 0, 1, 1), Rectangle(0, 0, 4056, 3040)));
	m.emplace(&properties::SensorSensitivity, ControlInfo(0.5f, 4.0f, 1.0f));
	return ControlInfoMap(std::move(m), properties::properties);
}

ControlList globalControls()
{
	ControlList l(controls::controls);
	l.set(controls::AnalogueGain, 2.0f);
	l.set(controls::ExposureTime, 33000);
	l.set(controls::AeEnable, false);
	l.set(controls::SensorTimestamp, int64_t(1234567890123456789));
	l.set(controls::ColourGains, { 1.25f, -0.5f });
	l.set(controls::ColourCorrectionMatrix,
	      { 1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 1.0f });
	l.set(controls::AfWindows.id(), span<Rectangle>({ Rectangle(10, 20, 30, 40) }));
	l.set(controls::ScalerCrop, Rectangle(0, 0, 4056, 3040));
	l.set(controls::draft::PipelineDepth, 3);
	return l;
}

ControlList globalProperties()
{
	ControlList l(properties::properties);
	l.set(properties::Model, std::string("imx477"));
	l.set(properties::Rotation, 180);
	l.set(properties::Location, int32_t(properties::CameraLocationExternal));
	l.set(properties::PixelArraySize, Size(4056, 3040));
	l.set(properties::UnitCellSize, Size(1550, 1550));
	l.set(properties::PixelArrayActiveAreas.id(),
	      span<Rectangle>({ Rectangle(8, 16, 4056, 3040), Rectangle(0, 0, 2, 2) }));
	l.set(properties::ScalerCropMaximum, Rectangle(0, 0, 4056, 3040));
	l.set(properties::SensorSensitivity, 1.5f);
	l.set(properties::draft::ColorFilterArrangement, int32_t(properties::draft::BGGR));
	return l;
}

std::ostringstream logs;

void writeFile(const std::string &path, const std::vector<uint8_t> &bytes)
{
	std::ofstream f(path, std::ios::binary);
	f.write(reinterpret_cast<const char *>(bytes.data()), std::streamsize(bytes.size()));
	if (!f)
		fail("cannot write " + path);
}

template<typename T>
void emit(const std::string &dir, const char *name, const char *role, ControlSerializer &s,
	  const T &obj)
{
	std::vector<uint8_t> bytes(ControlSerializer::binarySize(obj));
	ByteStreamBuffer buffer(bytes.data(), bytes.size());
	int ret = s.serialize(obj, buffer);
	if (ret < 0 || buffer.overflow())
		fail(std::string("libcamera failed to serialize ") + name + ": " + logs.str());
	writeFile(dir + "/" + name + ".bin", bytes);
	constexpr bool isMap = std::is_same_v<T, ControlInfoMap>;
	std::string text;
	if constexpr (isMap)
		text = describeMap(obj);
	else
		text = describeList(obj);
	std::cout << "case " << name << (isMap ? " map " : " list ") << role << "\n"
		  << text << "end\n";
}

void writeCases(const std::string &dir)
{
	ControlSerializer proxy(ControlSerializer::Role::Proxy);

	ControlInfoMap cmap = controlsMap();
	emit(dir, "map_controls", "proxy", proxy, cmap);
	ControlInfoMap pmap = propertiesMap();
	emit(dir, "map_properties", "proxy", proxy, pmap);
	Custom custom;
	ControlInfoMap xmap = customMap(custom);
	emit(dir, "map_custom", "proxy", proxy, xmap);
	Custom none;
	ControlInfoMap emptyLocal(ControlInfoMap::Map{}, none.idmap);
	emit(dir, "map_empty", "proxy", proxy, emptyLocal);
	ControlInfoMap emptyControls(ControlInfoMap::Map{}, controls::controls);
	emit(dir, "map_empty_controls", "proxy", proxy, emptyControls);

	emit(dir, "list_controls", "proxy", proxy, controlsList(cmap));
	ControlList plist(pmap);
	plist.set(properties::Model, std::string("ov5647"));
	plist.set(properties::UnitCellSize, Size(1400, 1400));
	emit(dir, "list_properties_map", "proxy", proxy, plist);
	emit(dir, "list_custom", "proxy", proxy, customList(xmap));
	emit(dir, "list_empty", "proxy", proxy, ControlList(xmap));
	emit(dir, "list_global_controls", "proxy", proxy, globalControls());
	emit(dir, "list_global_properties", "proxy", proxy, globalProperties());
	emit(dir, "list_global_empty", "proxy", proxy, ControlList(controls::controls));

	ControlSerializer worker(ControlSerializer::Role::Worker);
	Custom wcustom;
	ControlInfoMap wmap = customMap(wcustom);
	emit(dir, "worker_map_custom", "worker", worker, wmap);
	emit(dir, "worker_list_custom", "worker", worker, customList(wmap));
}

// ---- reading packets ----------------------------------------------------

std::vector<uint8_t> readFile(const std::string &path)
{
	std::ifstream f(path, std::ios::binary);
	if (!f)
		fail("cannot open " + path);
	return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

std::string firstError(const std::string &log)
{
	std::istringstream in(log);
	std::string line;
	while (std::getline(in, line))
		if (line.find("ERROR") != std::string::npos)
			return line;
	return "";
}

void readPackets(const std::string &role, int argc, char **argv)
{
	ControlSerializer s(role == "worker" ? ControlSerializer::Role::Worker
					     : ControlSerializer::Role::Proxy);
	// Deserialized maps live in the serializer; lists keep a pointer to them.
	for (int i = 0; i < argc; i++) {
		std::string arg = argv[i];
		size_t colon = arg.find(':');
		if (colon == std::string::npos)
			fail("expected KIND:FILE, got " + arg);
		std::string kind = arg.substr(0, colon);
		std::vector<uint8_t> bytes = readFile(arg.substr(colon + 1));
		ByteStreamBuffer buffer(static_cast<const uint8_t *>(bytes.data()), bytes.size());
		logs.str("");
		std::string text;
		if (kind == "map") {
			ControlInfoMap map = s.deserialize<ControlInfoMap>(buffer);
			if (firstError(logs.str()).empty() && !buffer.overflow())
				text = describeMap(map);
		} else if (kind == "list") {
			ControlList list = s.deserialize<ControlList>(buffer);
			if (firstError(logs.str()).empty() && !buffer.overflow())
				text = describeList(list);
		} else {
			fail("unknown kind " + kind);
		}
		std::string error = firstError(logs.str());
		if (!error.empty() || buffer.overflow())
			std::cout << "packet " << i << " refused "
				  << (error.empty() ? "buffer overflow" : error) << "\n";
		else
			std::cout << "packet " << i << " ok\n" << text << "end\n";
	}
}

} /* namespace */

int main(int argc, char **argv)
{
	if (!std::getenv("LIBCAMERA_SERIALIZER_LOG_STDERR"))
		logSetStream(&logs);
	std::string mode = argc > 1 ? argv[1] : "";
	if (mode == "write" && argc == 3) {
		writeCases(argv[2]);
	} else if (mode == "read" && argc >= 3) {
		readPackets(argv[2], argc - 3, argv + 3);
	} else {
		std::fprintf(stderr, "usage: libcamera_serializer write DIR | "
				     "read proxy|worker KIND:FILE...\n");
		return 2;
	}
	std::cout.flush();
	return 0;
}
